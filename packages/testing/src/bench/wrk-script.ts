/**
 * The Lua script given to wrk, and the reading of what it writes: pure. The script sets the
 * request (method, body, content type) and, when the run is over, writes wrk's summary and its
 * whole latency histogram (1 µs buckets) as JSON to a file. wrk exposes only percentiles to Lua;
 * the histogram is read through LuaJIT's FFI, with the layout of wrk 4's `stats` struct, so the
 * bench can undo wrk's correction and count single slow requests exactly (see stats.ts).
 */
import { uncorrectWrkHistogram, wrkCorrectionUs } from './stats';

/** The placeholder in a body template that each request replaces with a number of its own. */
export const BODY_COUNTER = '__BENCH_COUNTER__';

export interface WrkScriptOptions {
  method: 'GET' | 'POST';
  /**
   * File whose bytes are the request body (POST only). When it holds BODY_COUNTER once, every
   * request sends it with that replaced by `counterFrom` + its own sequence number: no two bodies
   * are the same, as in real traffic, so no cache of whole answers by body can stand in for the
   * path being measured.
   */
  bodyFile?: string;
  counterFrom?: number;
  /** Where the script writes its JSON when the run is over. */
  outFile: string;
}

/** A Lua string literal for any path (no escapes to get wrong: decimal byte escapes throughout). */
function luaString(text: string): string {
  return `"${[...Buffer.from(text, 'utf8')].map((b) => `\\${b}`).join('')}"`;
}

export function wrkScript(opts: WrkScriptOptions): string {
  const lines = [
    '-- written by the matrix-notary benchmark (packages/testing/src/bench/wrk-script.ts)',
    'local ffi = require("ffi")',
    '-- wrk 4 `stats`: count, limit, min, max, then one uint64 count per µs of latency',
    'ffi.cdef[[ typedef struct { uint64_t count; uint64_t limit; uint64_t min; uint64_t max; uint64_t data[?]; } notary_bench_stats; ]]',
    `wrk.method = "${opts.method}"`,
  ];
  if (opts.bodyFile !== undefined) {
    lines.push(
      `local body_file = assert(io.open(${luaString(opts.bodyFile)}, "rb"))`,
      'wrk.body = body_file:read("*a")',
      'body_file:close()',
      'wrk.headers["Content-Type"] = "application/json"',
    );
    if (opts.counterFrom !== undefined) {
      lines.push(
        `local head, tail = wrk.body:match("^(.-)${BODY_COUNTER}(.*)$")`,
        `assert(head, "the body template has no ${BODY_COUNTER}")`,
        `local counter = ${Math.floor(opts.counterFrom)}`,
        'request = function()',
        '  counter = counter + 1',
        '  return wrk.format(nil, nil, nil, head .. string.format("%.0f", counter) .. tail)',
        'end',
      );
    }
  }
  lines.push(
    'local function n(x) return string.format("%.0f", tonumber(x)) end',
    'done = function(summary, latency, requests)',
    '  local s = ffi.cast("notary_bench_stats **", latency)[0]',
    `  local out = assert(io.open(${luaString(opts.outFile)}, "w"))`,
    '  local e = summary.errors',
    '  out:write(\'{"duration_us":\', n(summary.duration), \',"requests":\', n(summary.requests), \',"bytes":\', n(summary.bytes))',
    '  out:write(\',"errors":{"connect":\', n(e.connect), \',"read":\', n(e.read), \',"write":\', n(e.write), \',"status":\', n(e.status), \',"timeout":\', n(e.timeout), \'}\')',
    '  out:write(\',"histogram_count":\', n(s.count), \',"histogram":[\')',
    '  local first = true',
    '  if s.count > 0 then',
    '    for v = tonumber(s.min), tonumber(s.max) do',
    '      local c = s.data[v]',
    '      if c > 0 then',
    '        if not first then out:write(",") end',
    '        out:write(n(v), ",", n(c))',
    '        first = false',
    '      end',
    '    end',
    '  end',
    '  out:write("]}")',
    '  out:close()',
    'end',
    '',
  );
  return lines.join('\n');
}

/** What the script writes (numbers as wrk counted them; the histogram as flat µs,count pairs). */
export interface WrkOutput {
  duration_us: number;
  requests: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  histogram_count: number;
  histogram: number[];
}

export interface WrkRun {
  durationS: number;
  requests: number;
  bytes: number;
  errors: WrkOutput['errors'];
  /** The µs interval of wrk's correction, undone here. */
  correctionUs: number;
  /** Real latencies: [µs, count] pairs, one count per request wrk completed and timed. */
  latencyPairs: Array<[number, number]>;
}

export class WrkOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WrkOutputError';
  }
}

export function parseWrkOutput(text: string, connections: number): WrkRun {
  let out: WrkOutput;
  try {
    out = JSON.parse(text) as WrkOutput;
  } catch (err) {
    throw new WrkOutputError(`wrk's script wrote something that is not JSON (${(err as Error).message}): ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(out.histogram) || out.histogram.length % 2 !== 0) throw new WrkOutputError('wrk\'s script wrote no histogram');
  const corrected: Array<[number, number]> = [];
  for (let i = 0; i < out.histogram.length; i += 2) corrected.push([out.histogram[i], out.histogram[i + 1]]);
  const correctionUs = wrkCorrectionUs(out.duration_us, out.requests, connections);
  const latencyPairs = uncorrectWrkHistogram(corrected, correctionUs);
  const timed = latencyPairs.reduce((acc, [, c]) => acc + c, 0);
  // A request slower than wrk's --timeout is completed but counted as a timeout instead of timed.
  if (timed > out.requests || timed < out.requests - out.errors.timeout) {
    throw new WrkOutputError(
      `wrk's latency histogram holds ${timed} requests after undoing its correction, but wrk completed ${out.requests} ` +
        `(${out.errors.timeout} timed out): this wrk corrects differently from wrk 4.1; the latency figures would be wrong`,
    );
  }
  return {
    durationS: out.duration_us / 1e6,
    requests: out.requests,
    bytes: out.bytes,
    errors: out.errors,
    correctionUs,
    latencyPairs,
  };
}
