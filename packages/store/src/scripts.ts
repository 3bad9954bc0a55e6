/** The Lua scripts, read once from ../lua (beside both src/ and dist/) and registered on a client. */
import fs from 'node:fs';
import path from 'node:path';
import type { Result } from 'ioredis';
import type { RedisClient } from './redis';

const LUA_DIR = path.join(__dirname, '..', 'lua');

function script(file: string): { lua: string; numberOfKeys: number } {
  const match = /-(\d+)\.lua$/.exec(file);
  if (!match) throw new Error(`Lua script ${file} must be named <what>-<number of keys>.lua`);
  return { lua: fs.readFileSync(path.join(LUA_DIR, file), 'utf8'), numberOfKeys: Number(match[1]) };
}

const SCRIPTS = {
  notaryMarkRefresh: script('mark-refresh-1.lua'),
  notaryClaimFetch: script('claim-fetch-1.lua'),
  notaryRecordFailure: script('record-failure-1.lua'),
  notaryStoreResponse: script('store-response-1.lua'),
  notaryEvictKeys: script('evict-keys-1.lua'),
  notaryNoteProblem: script('note-problem-1.lua'),
  notaryReplaceResponse: script('replace-response-1.lua'),
  notaryHoldLock: script('hold-lock-1.lua'),
  notaryPermitUpstream: script('permit-upstream-1.lua'),
  notaryRecordUpstream: script('record-upstream-1.lua'),
};

/** What store-response-1.lua returns (see the script). */
export type StoreScriptReply =
  | ['collision', string, string, string]
  | ['held']
  | ['stored', string, number, string[], string[], number, string[], number, number, string];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    notaryMarkRefresh(key: string, nowMs: number, intervalMs: number): Result<number, Context>;
    notaryClaimFetch(key: string, ...args: (string | number)[]): Result<[number, number], Context>;
    notaryRecordFailure(key: string, ...args: (string | number)[]): Result<[number, number], Context>;
    notaryStoreResponse(key: string, ...args: (string | number | Buffer)[]): Result<StoreScriptReply, Context>;
    notaryEvictKeys(key: string, keyId: string, expectedBody?: string): Result<string[], Context>;
    notaryNoteProblem(key: string, problem: string): Result<number, Context>;
    notaryReplaceResponse(key: string, id: string, fetchedMs: string, old: Buffer, replacement: Buffer): Result<string, Context>;
    notaryHoldLock(key: string, token: string, lifetimeMs: number): Result<number, Context>;
    notaryPermitUpstream(key: string, nowMs: number, windowMs: number, asksPerWindow: number): Result<[number, number], Context>;
    notaryRecordUpstream(key: string, nowMs: number, failed: '0' | '1', firstBackoffMs: number, maxBackoffMs: number): Result<[number, number], Context>;
  }
}

const registered = new WeakSet<RedisClient>();

/** Registers the scripts (ioredis sends EVALSHA and falls back to EVAL once per connection). */
export function registerScripts(redis: RedisClient): RedisClient {
  if (registered.has(redis)) return redis;
  for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
  registered.add(redis);
  return redis;
}
