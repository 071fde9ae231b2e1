/**
 * The Lua scripts of the Redis storage: every step that touches more than one key runs
 * as one script, so it is atomic and one round trip. `KEYS[1]` is always the name's key
 * prefix (`dewey:{name}:`): every key a script touches starts with it, so all share one
 * hash slot and scripts work on a Redis Cluster too.
 *
 * Keys under the prefix:
 * - `seq` counter: orders queue and schedule entries (FIFO among equal scores);
 * - `queue` zset: score `-priority`, member = 16-digit sequence number + message;
 * - `leases` zset (lease → deadline ms), `leased` hash (lease → "score member", with a
 *   leading `!` when the message is in `expired`), `expired` hash (sequence number →
 *   times its lease expired; most messages never appear in it);
 * - `watch` hash (sequence number → the message's watch keys, each as `<bytes>:<key>`):
 *   the keys whose values a lease reads and returns with the message;
 * - `notify` list: wake-up tokens for blocked consumers (at most {@linkcode WAKE_TOKENS});
 * - `schedule` zset: score eta, member = 16-digit sequence number + message;
 * - `k:<key>` strings (key/value, with PX expiry), indexed by the `kvs` set (keys without
 *   expiry: a hash insert, the cheap case every result write takes) and the `kv` zset
 *   (key → expiry ms; a write with a ttl also drops the entries that expired); a key is in
 *   one of the two; `c:<key>` counters indexed by the `counters` zset (key → expiry ms,
 *   `inf` without);
 * - `rw:<key>` number of blocked result waiters, `rn:<key>` their wake-up list;
 * - `dead` zset (id → at), `dead:data` and `dead:reason` hashes.
 *
 * Replies are integers, strings, nil or arrays of strings only: a Lua boolean would reach
 * RESP3 clients as a boolean and RESP2 clients as nil or 1.
 *
 * @module
 */

import type { LuaScript } from "./executor.ts";

/** Tokens kept in the `notify` list at most (wakes that many idle consumers). */
export const WAKE_TOKENS = 64;

/** Lifetime of a result wake-up list nobody popped, in ms (a waiter pops at once). */
const RESULT_NOTIFY_TTL_MS = 60_000;

/**
 * Functions shared by the scripts. Each script carries only those it calls (directly or
 * through another): every `local function` is a closure made again on every run.
 */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function id16(n)
  return string.format('%016d', n)
end
local function wake_consumers(count)
  local key = P .. 'notify'
  local tokens = {}
  for i = 1, math.min(count, ${WAKE_TOKENS}) do tokens[i] = '1' end
  -- One LPUSH; the LTRIM only once the list is over its bound.
  if redis.call('LPUSH', key, unpack(tokens)) > ${WAKE_TOKENS} then
    redis.call('LTRIM', key, 0, ${WAKE_TOKENS - 1})
  end
end
local function index_add(index, member, ttl)
  if ttl == '' then
    redis.call('ZADD', index, 'inf', member)
    return
  end
  -- Only writes with a ttl add entries that expire, so only they need to prune (which
  -- keeps the index bounded without a TIME and a range removal on every write).
  local now = now_ms()
  redis.call('ZADD', index, now + tonumber(ttl), member)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. now)
end
local function kv_notify(key)
  local waiting = tonumber(redis.call('GET', P .. 'rw:' .. key) or '0') or 0
  if waiting > 0 then
    local list = P .. 'rn:' .. key
    for i = 1, waiting do redis.call('RPUSH', list, '1') end
    redis.call('PEXPIRE', list, ${RESULT_NOTIFY_TTL_MS})
  end
end
local function kv_index(key, ttl)
  if ttl == '' then
    redis.call('SADD', P .. 'kvs', key)
    redis.call('ZREM', P .. 'kv', key)
  else
    redis.call('SREM', P .. 'kvs', key)
    index_add(P .. 'kv', key, ttl)
  end
end
local function kv_unindex(key)
  redis.call('SREM', P .. 'kvs', key)
  redis.call('ZREM', P .. 'kv', key)
end
local function kv_put(key, value, ttl)
  local k = P .. 'k:' .. key
  if ttl ~= '' then
    redis.call('SET', k, value, 'PX', ttl)
  else
    redis.call('SET', k, value)
  end
  kv_index(key, ttl)
  kv_notify(key)
end
local function kv_delete(key)
  local n = redis.call('DEL', P .. 'k:' .. key)
  -- No key, no live index entry: an expired one is pruned by its score.
  if n == 1 then kv_unindex(key) end
  return n
end
local function kv_keys()
  local keys = redis.call('SMEMBERS', P .. 'kvs')
  for _, key in ipairs(redis.call('ZRANGE', P .. 'kv', 0, -1)) do keys[#keys + 1] = key end
  return keys
end
local function kv_prune()
  redis.call('ZREMRANGEBYSCORE', P .. 'kv', '-inf', '(' .. now_ms())
end
local function kv_flush()
  local keys = kv_keys()
  for i = 1, #keys, 500 do
    local batch = {}
    for j = i, math.min(i + 499, #keys) do batch[#batch + 1] = P .. 'k:' .. keys[j] end
    redis.call('DEL', unpack(batch))
  end
  redis.call('DEL', P .. 'kv', P .. 'kvs')
end
local function flush_index(index, prefix)
  local members = redis.call('ZRANGE', index, 0, -1)
  for i = 1, #members, 500 do
    local batch = {}
    for j = i, math.min(i + 499, #members) do batch[#batch + 1] = prefix .. members[j] end
    redis.call('DEL', unpack(batch))
  end
  redis.call('DEL', index)
end
local function watch_read(encoded)
  -- '<bytes>:<key>' repeated; returns count, then key and '=' .. value or '' when absent.
  local out, at = {}, 1
  while at <= #encoded do
    local colon = string.find(encoded, ':', at, true)
    local key = string.sub(encoded, colon + 1, colon + tonumber(string.sub(encoded, at, colon - 1)))
    at = colon + #key + 1
    local value = redis.call('GET', P .. 'k:' .. key)
    out[#out + 1] = key
    if value then out[#out + 1] = '=' .. value else out[#out + 1] = '' end
  end
  return out
end
local function split_leased(v)
  local from = 1
  if string.byte(v, 1) == 33 then from = 2 end -- '!': the message is in 'expired'
  local space = string.find(v, ' ', from, true)
  return string.sub(v, from, space - 1), string.sub(v, space + 1)
end
`;

const SOURCES = {
  /** ARGV: score, message, watch keys (encoded) or "". */
  enqueue: `
local n = id16(redis.call('INCR', P .. 'seq'))
redis.call('ZADD', P .. 'queue', ARGV[1], n .. ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', P .. 'watch', n, ARGV[3]) end
wake_consumers(1)
return 1`,

  /** ARGV: score, message, watch keys or "", score, message, watch keys or "", … */
  enqueueMany: `
local count = #ARGV / 3
local first = redis.call('INCRBY', P .. 'seq', count) - count + 1
local queue = P .. 'queue'
local batch, watch = {}, {}
for i = 1, count do
  local n = id16(first + i - 1)
  batch[#batch + 1] = ARGV[3 * i - 2]
  batch[#batch + 1] = n .. ARGV[3 * i - 1]
  if ARGV[3 * i] ~= '' then
    watch[#watch + 1] = n
    watch[#watch + 1] = ARGV[3 * i]
  end
  if #batch >= 1000 or i == count then -- unpack has a limit of a few thousand
    redis.call('ZADD', queue, unpack(batch))
    if #watch > 0 then redis.call('HSET', P .. 'watch', unpack(watch)) end
    batch, watch = {}, {}
  end
end
wake_consumers(count)
return count`,

  /**
   * ARGV: count, deadline ms, lease token base. Returns per message: lease, member,
   * expiries, the number of watch keys, then each watch key and `=value` or "" (absent).
   * One ZADD and one HSET for the whole batch; `expired` is read only when it exists.
   */
  dequeue: `
local popped = redis.call('ZPOPMIN', P .. 'queue', ARGV[1])
if #popped == 0 then return {} end
local expired = P .. 'expired'
local any_expired = redis.call('EXISTS', expired) == 1
local out, deadlines, leased = {}, {}, {}
for i = 1, #popped, 2 do
  local member, score = popped[i], popped[i + 1]
  local lease = ARGV[3] .. '.' .. ((i + 1) / 2)
  local n = '0'
  if any_expired then n = redis.call('HGET', expired, string.sub(member, 1, 16)) or '0' end
  local watch = redis.call('HGET', P .. 'watch', string.sub(member, 1, 16))
  local watched = {}
  if watch then watched = watch_read(watch) end
  local mark = ''
  if n ~= '0' then mark = '!' end
  deadlines[#deadlines + 1] = ARGV[2]
  deadlines[#deadlines + 1] = lease
  leased[#leased + 1] = lease
  leased[#leased + 1] = mark .. score .. ' ' .. member
  out[#out + 1] = lease
  out[#out + 1] = member
  out[#out + 1] = n
  out[#out + 1] = #watched / 2
  for j = 1, #watched do out[#out + 1] = watched[j] end
  if #leased >= 1000 or i + 1 == #popped then -- unpack has a limit of a few thousand
    redis.call('ZADD', P .. 'leases', unpack(deadlines))
    redis.call('HSET', P .. 'leased', unpack(leased))
    deadlines, leased = {}, {}
  end
end
return out`,

  /**
   * One or several acks in one script; the effects apply even when the lease is gone (the
   * task did run). ARGV per ack: lease, "1" to put, put key, put value, put
   * ttl ms or "", the number of keys to delete, the keys. Returns how many leases were held.
   */
  ack: `
local leased = P .. 'leased'
local i, held = 1, 0
while i <= #ARGV do
  local v = redis.call('HGET', leased, ARGV[i])
  if v then
    redis.call('HDEL', leased, ARGV[i])
    redis.call('ZREM', P .. 'leases', ARGV[i])
    local _, member = split_leased(v)
    local n = string.sub(member, 1, 16)
    redis.call('HDEL', P .. 'watch', n)
    if string.byte(v, 1) == 33 then redis.call('HDEL', P .. 'expired', n) end
    held = held + 1
  end
  if ARGV[i + 1] == '1' then kv_put(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]) end
  local deletes = tonumber(ARGV[i + 5])
  for j = 1, deletes do kv_delete(ARGV[i + 5 + j]) end
  i = i + 6 + deletes
end
return held`,

  /** ARGV: deadline ms, leases… Returns the leases still held. */
  extend: `
local leases = P .. 'leases'
local held = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', leases, ARGV[i]) then
    redis.call('ZADD', leases, ARGV[1], ARGV[i])
    held[#held + 1] = ARGV[i]
  end
end
return held`,

  /** ARGV: lease. */
  release: `
local v = redis.call('HGET', P .. 'leased', ARGV[1])
if not v then return 0 end
redis.call('HDEL', P .. 'leased', ARGV[1])
redis.call('ZREM', P .. 'leases', ARGV[1])
local score, member = split_leased(v)
redis.call('ZADD', P .. 'queue', score, member)
wake_consumers(1)
return 1`,

  /** ARGV: now ms. Returns the number of messages requeued. */
  requeueExpired: `
local leases = P .. 'leases'
local due = redis.call('ZRANGEBYSCORE', leases, '-inf', ARGV[1])
local count = 0
for _, lease in ipairs(due) do
  local v = redis.call('HGET', P .. 'leased', lease)
  redis.call('ZREM', leases, lease)
  if v then
    redis.call('HDEL', P .. 'leased', lease)
    local score, member = split_leased(v)
    redis.call('ZADD', P .. 'queue', score, member)
    redis.call('HINCRBY', P .. 'expired', string.sub(member, 1, 16), 1)
    count = count + 1
  end
end
if count > 0 then wake_consumers(count) end
return count`,

  /**
   * Before a blocking wait: 1 when a message is waiting. Otherwise drops stale tokens (each
   * announced a message that is gone now; while a consumer is blocked the list is empty).
   */
  waitCheck: `
if redis.call('ZCARD', P .. 'queue') > 0 then return 1 end
redis.call('DEL', P .. 'notify')
return 0`,

  flushQueue: `
redis.call('DEL', P .. 'queue', P .. 'leases', P .. 'leased', P .. 'expired', P .. 'notify',
  P .. 'watch')
return 1`,

  /** ARGV: eta ms, message. */
  scheduleAdd: `
local n = redis.call('INCR', P .. 'seq')
redis.call('ZADD', P .. 'schedule', ARGV[1], id16(n) .. ARGV[2])
return 1`,

  /** ARGV: now ms. Returns the due members, soonest first, and removes them. */
  scheduleRead: `
local key = P .. 'schedule'
local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1])
if #due > 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1]) end
return due`,

  /** ARGV: key, value, ttl ms or "". */
  put: `
kv_put(ARGV[1], ARGV[2], ARGV[3])
return 1`,

  /** ARGV: key. Returns the value or nil. */
  pop: `
local k = P .. 'k:' .. ARGV[1]
local v = redis.call('GET', k)
kv_unindex(ARGV[1])
if not v then return nil end
redis.call('DEL', k)
return v`,

  /** ARGV: key, value, ttl ms or "". Returns 1 when set. */
  putIfEmpty: `
local k = P .. 'k:' .. ARGV[1]
local ok
if ARGV[3] ~= '' then
  ok = redis.call('SET', k, ARGV[2], 'NX', 'PX', ARGV[3])
else
  ok = redis.call('SET', k, ARGV[2], 'NX')
end
if not ok then return 0 end
kv_index(ARGV[1], ARGV[3])
kv_notify(ARGV[1])
return 1`,

  /** ARGV: key, "1" to compare, expected value. Returns 1 when deleted. */
  delete: `
if ARGV[2] == '1' and redis.call('GET', P .. 'k:' .. ARGV[1]) ~= ARGV[3] then return 0 end
return kv_delete(ARGV[1])`,

  resultCount: `
kv_prune()
return redis.call('SCARD', P .. 'kvs') + redis.call('ZCARD', P .. 'kv')`,

  /** Returns key, value, key, value, … of every live key. */
  resultItems: `
kv_prune()
local keys = kv_keys()
local out = {}
for i = 1, #keys, 500 do
  local batch = {}
  for j = i, math.min(i + 499, #keys) do batch[#batch + 1] = P .. 'k:' .. keys[j] end
  local values = redis.call('MGET', unpack(batch))
  for j = 1, #batch do
    if values[j] then
      out[#out + 1] = keys[i + j - 1]
      out[#out + 1] = values[j]
    end
  end
end
return out`,

  flushResults: `
kv_flush()
return 1`,

  /** ARGV: key, amount, ttl ms or "". Returns the new value as a string. */
  incr: `
local k = P .. 'c:' .. ARGV[1]
local existed = redis.call('EXISTS', k)
local v = redis.call('INCRBYFLOAT', k, ARGV[2])
if existed == 0 then
  if ARGV[3] ~= '' then redis.call('PEXPIRE', k, ARGV[3]) end
  index_add(P .. 'counters', ARGV[1], ARGV[3])
end
return v`,

  /** ARGV: key. */
  deleteCounter: `
redis.call('DEL', P .. 'c:' .. ARGV[1])
redis.call('ZREM', P .. 'counters', ARGV[1])
return 1`,

  flushCounters: `
flush_index(P .. 'counters', P .. 'c:')
return 1`,

  /** ARGV: random suffix, at ms, message, reason. Returns the entry id. */
  deadLetter: `
local id = id16(redis.call('INCR', P .. 'seq')) .. '-' .. ARGV[1]
redis.call('ZADD', P .. 'dead', ARGV[2], id)
redis.call('HSET', P .. 'dead:data', id, ARGV[3])
redis.call('HSET', P .. 'dead:reason', id, ARGV[4])
return id`,

  /** Returns id, at, reason, message for every entry, oldest first. */
  deadLetters: `
local ids = redis.call('ZRANGE', P .. 'dead', 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  out[#out + 1] = ids[i]
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', P .. 'dead:reason', ids[i]) or ''
  out[#out + 1] = redis.call('HGET', P .. 'dead:data', ids[i]) or ''
end
return out`,

  /** ARGV: id. Returns 1 when the entry existed (it is then queued at priority 0). */
  requeueDeadLetter: `
local data = redis.call('HGET', P .. 'dead:data', ARGV[1])
if not data then return 0 end
redis.call('ZREM', P .. 'dead', ARGV[1])
redis.call('HDEL', P .. 'dead:data', ARGV[1])
redis.call('HDEL', P .. 'dead:reason', ARGV[1])
local n = redis.call('INCR', P .. 'seq')
redis.call('ZADD', P .. 'queue', 0, id16(n) .. data)
wake_consumers(1)
return 1`,

  purgeDeadLetters: `
local n = redis.call('ZCARD', P .. 'dead')
redis.call('DEL', P .. 'dead', P .. 'dead:data', P .. 'dead:reason')
return n`,

  flushAll: `
kv_flush()
flush_index(P .. 'counters', P .. 'c:')
redis.call('DEL', P .. 'seq', P .. 'queue', P .. 'leases', P .. 'leased', P .. 'expired',
  P .. 'watch', P .. 'notify', P .. 'schedule', P .. 'dead', P .. 'dead:data', P .. 'dead:reason')
return 1`,

  /**
   * ARGV: key, registration ttl ms. Returns 1 when the key holds a value; otherwise counts
   * one more waiter, so writes to the key push a token to `rn:<key>`.
   */
  waitDataRegister: `
if redis.call('EXISTS', P .. 'k:' .. ARGV[1]) == 1 then return 1 end
local w = P .. 'rw:' .. ARGV[1]
redis.call('INCR', w)
redis.call('PEXPIRE', w, ARGV[2])
return 0`,

  /** ARGV: key. The last waiter to leave removes the counter and leftover tokens. */
  waitDataUnregister: `
local w = P .. 'rw:' .. ARGV[1]
if redis.call('DECR', w) <= 0 then redis.call('DEL', w, P .. 'rn:' .. ARGV[1]) end
return 1`,
} as const;

/** The name of one script. */
export type ScriptName = keyof typeof SOURCES;

/** Every script, with its SHA-1. */
export type Scripts = Record<ScriptName, LuaScript>;

let loaded: Promise<Scripts> | undefined;

/** The scripts with their SHA-1 digests (Web Crypto, computed once per process). */
export function scripts(): Promise<Scripts> {
  loaded ??= (async () => {
    const entries = await Promise.all(
      Object.entries(SOURCES).map(async ([name, body]) => {
        const source = "\nlocal P = KEYS[1]" + preludeFor(body) + body;
        return [name, { source, sha: await sha1(source) }] as const;
      }),
    );
    return Object.fromEntries(entries) as Scripts;
  })();
  return loaded;
}

/** The prelude's functions (in their order) that `body` calls, directly or through others. */
function preludeFor(body: string): string {
  const functions = PRELUDE.split(/\n(?=local function )/).filter((chunk) => chunk.trim() !== "");
  const name = (chunk: string) => /^local function (\w+)/.exec(chunk)![1];
  const needed = new Set<string>();
  const visit = (code: string): void => {
    for (const chunk of functions) {
      const called = name(chunk);
      if (needed.has(called) || !new RegExp(`\\b${called}\\(`).test(code)) continue;
      needed.add(called);
      visit(chunk.slice(chunk.indexOf("(")));
    }
  };
  visit(body);
  return functions.filter((chunk) => needed.has(name(chunk))).map((chunk) => "\n" + chunk.trim())
    .join("") + "\n";
}

/** SHA-1 of `text` (UTF-8), lower-case hex, as Redis names scripts. */
export async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
