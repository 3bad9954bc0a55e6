import { BODY_COUNTER, parseWrkOutput, wrkScript, WrkOutputError } from '../../src/bench/wrk-script';

function output(histogram: number[], requests: number, timeout = 0): string {
  return JSON.stringify({
    duration_us: 2_000_000,
    requests,
    bytes: requests * 600,
    errors: { connect: 0, read: 0, write: 0, status: 0, timeout },
    histogram_count: histogram.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0),
    histogram,
  });
}

describe('the wrk script', () => {
  it('sets a POST body from a file and writes its summary where told', () => {
    const lua = wrkScript({ method: 'POST', bodyFile: '/tmp/a b/"body".json', outFile: '/tmp/out.json' });
    expect(lua).toContain('wrk.method = "POST"');
    expect(lua).toContain('wrk.headers["Content-Type"] = "application/json"');
    expect(lua).toContain('done = function(summary, latency, requests)');
    // Paths go in as decimal byte escapes: nothing in them can end the Lua string.
    expect(lua).not.toContain('"body"');
    expect(lua).toContain('\\34\\98\\111\\100\\121\\34');
  });

  it('makes every POST body its own when the template holds the counter', () => {
    const lua = wrkScript({ method: 'POST', bodyFile: '/tmp/b.json', counterFrom: 1_764_000_000_000, outFile: '/tmp/out.json' });
    expect(lua).toContain(`wrk.body:match("^(.-)${BODY_COUNTER}(.*)$")`);
    expect(lua).toContain('local counter = 1764000000000');
    expect(lua).toContain('return wrk.format(nil, nil, nil, head .. string.format("%.0f", counter) .. tail)');
    // Without a counter the body is static: wrk sends the same request string every time.
    expect(wrkScript({ method: 'POST', bodyFile: '/tmp/b.json', outFile: '/tmp/o.json' })).not.toContain('request = function');
  });

  it('sends no body or content type for a GET', () => {
    const lua = wrkScript({ method: 'GET', outFile: '/tmp/out.json' });
    expect(lua).toContain('wrk.method = "GET"');
    expect(lua).not.toContain('wrk.body');
  });
});

describe('reading what the script wrote', () => {
  it('undoes the correction and checks the count against the requests', () => {
    // 2 s, 100 requests on 10 connections: e = 2,000,000 / 10 = 200,000 µs. One request took
    // 600 ms, so wrk added samples at 400 ms (600 − 200 = 400 > 200, then 200 is not > 200).
    const run = parseWrkOutput(output([1000, 99, 400_000, 1, 600_000, 1], 100), 10);
    expect(run.correctionUs).toBe(200_000);
    expect(run.latencyPairs).toEqual([[1000, 99], [600_000, 1]]);
    expect(run.durationS).toBe(2);
  });

  it('allows requests slower than the timeout to be missing from the histogram', () => {
    expect(parseWrkOutput(output([1000, 98], 100, 2), 10).latencyPairs).toEqual([[1000, 98]]);
  });

  it('refuses a histogram that does not add up', () => {
    expect(() => parseWrkOutput(output([1000, 50], 100), 10)).toThrow(WrkOutputError);
    expect(() => parseWrkOutput('not json', 10)).toThrow(/not JSON/);
  });
});
