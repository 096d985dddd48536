/**
 * The Lua scripts of the Redis store. Each runs atomically on the server, so no reader ever sees
 * a sequence number without its history entry, or a history entry without its notification.
 *
 * Keys (one hash tag, so Redis Cluster keeps them in one slot): `KEYS[1]` the channel's meta hash
 * (`e`: epoch, `s`: newest sequence), `KEYS[2]` its stream, whose entry ids are `<sequence>-0`
 * and whose fields are `m` (append time, ms, Redis' clock), `n` (a nonce, unique per append,
 * that tells an event from another issued the same id after Redis rewound), `t` (type), `d`
 * (data), `r` (retry, optional).
 *
 * @module
 */

/**
 * Makes sure the channel has an epoch. A channel without one (a new channel, a Redis that came
 * back empty, keys lost) gets `ARGV[1]` and an empty stream: its old ids then read as foreign.
 */
const ENSURE_EPOCH = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', '0')
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local nowText = string.format('%d', now)
`;

/** Drops the entries older than `maxAge` ms from the front of the stream, up to `count` per call. */
const TRIM_AGE = `
local function trimAge(maxAge, count)
  if maxAge <= 0 then return 0 end
  local cutoff = now - maxAge
  local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  if head == nil or tonumber(head[2][2]) > cutoff then return 0 end
  local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', count)
  local dropped = 0
  local minid = nil
  for _, entry in ipairs(oldest) do
    if tonumber(entry[2][2]) > cutoff then
      minid = entry[1]
      break
    end
    dropped = dropped + 1
  end
  if dropped == 0 then return 0 end
  if minid == nil then
    minid = (tonumber(string.match(oldest[#oldest][1], '^%d+')) + 1) .. '-0'
  end
  redis.call('XTRIM', KEYS[2], 'MINID', minid)
  return dropped
end
`;

/**
 * Appends one event. `ARGV`: 1 new epoch (also the event's nonce: unique per call), 2 maxEvents,
 * 3 maxAge ms (0: none), 4 pub/sub channel, 5 type, 6 data, 7 retry (`""`: none). Publishes
 * `<epoch>\n<seq>\n<nonce>\n<type>\n<retry>\n<data>` and returns `{epoch, seq}`.
 */
export const APPEND_SCRIPT = `${ENSURE_EPOCH}${TRIM_AGE}
local function add(seq)
  local id = string.format('%d-0', seq)
  if ARGV[7] == '' then
    return redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id, 'm', nowText, 'n', ARGV[1], 't', ARGV[5], 'd', ARGV[6])
  end
  return redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id, 'm', nowText, 'n', ARGV[1], 't', ARGV[5], 'd', ARGV[6], 'r', ARGV[7])
end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local added = add(seq)
if type(added) == 'table' and added.err then
  -- A script's writes are not undone by an error: never leave a sequence without its entry.
  if not string.find(added.err, 'smaller', 1, true) then
    redis.call('HINCRBY', KEYS[1], 's', -1)
    return redis.error_reply(added.err)
  end
  -- The stream is ahead of the sequence (the meta key went back without it): a new epoch.
  epoch = ARGV[1]
  seq = 1
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', '1')
  added = add(seq)
  if type(added) == 'table' and added.err then return redis.error_reply(added.err) end
end
local maxAge = tonumber(ARGV[3])
if maxAge > 0 then
  -- An idle channel's stream goes after maxAge. Readers skip entries past their age anyway, so
  -- dropping them is only for memory: done every 16th append, up to 64 at a time, it keeps up.
  redis.call('PEXPIRE', KEYS[2], maxAge)
  if seq % 16 == 0 then trimAge(maxAge, 64) end
end
local nl = string.char(10)
local sequence = string.format('%d', seq)
redis.call('PUBLISH', ARGV[4], epoch .. nl .. sequence .. nl .. ARGV[1] .. nl .. ARGV[5] .. nl .. ARGV[7] .. nl .. ARGV[6])
return {epoch, sequence}
`;

/**
 * Reads the history. `ARGV`: 1 new epoch, 2 the sequence to read after (`""`: from the oldest),
 * 3 at most this many (0: none, the position only), 4 maxAge ms (0: none), 5 `"1"` to read from
 * that sequence on instead of after it. Returns
 * `{epoch, newest sequence, seq1, nonce1, type1, data1, retry1, seq2, ...}`, entries older than
 * maxAge left out.
 */
export const READ_SCRIPT = `${ENSURE_EPOCH}
local last = redis.call('HGET', KEYS[1], 's') or '0'
local result = {epoch, last}
local limit = tonumber(ARGV[3])
if limit > 0 then
  local start = '-'
  if ARGV[2] ~= '' then
    start = ARGV[2] .. '-0'
    if ARGV[5] ~= '1' then start = '(' .. start end
  end
  local maxAge = tonumber(ARGV[4])
  local cutoff = -1
  if maxAge > 0 then cutoff = now - maxAge end
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', limit)) do
    local fields = entry[2]
    if tonumber(fields[2]) > cutoff then
      result[#result + 1] = string.match(entry[1], '^%d+')
      result[#result + 1] = fields[4]
      result[#result + 1] = fields[6]
      result[#result + 1] = fields[8]
      result[#result + 1] = fields[10] or ''
    end
  end
end
return result
`;

/** Drops the entries older than maxAge. `ARGV`: 1 new epoch, 2 maxAge ms. Returns the count. */
export const TRIM_SCRIPT = `${ENSURE_EPOCH}${TRIM_AGE}
local total = 0
for _ = 1, 64 do
  local dropped = trimAge(tonumber(ARGV[2]), 1000)
  total = total + dropped
  if dropped < 1000 then break end
end
return tostring(total)
`;

/**
 * Starts a new epoch after a feed saw the newest sequence go back (a failover to a replica that
 * had not received the newest events): the sequences after it would be issued again for other
 * events. `ARGV`: 1 the epoch seen, 2 the sequence seen (unused: the sequence goes on), 3 the
 * new epoch. Only while Redis still has the epoch seen (another instance may have rotated
 * first). Returns `{epoch, newest}`.
 */
export const ROTATE_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'e')
local last = redis.call('HGET', KEYS[1], 's') or '0'
if epoch == ARGV[1] then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'e', epoch)
  redis.call('DEL', KEYS[2])
end
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', '0')
  last = '0'
end
return {epoch, last}
`;
