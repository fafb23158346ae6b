// The integration guide's frontend calls, as the guide writes them, plus the API key header it lacks.
// Run by tests/e2e/test_guide_frontend_e2e.py with Node 20 (fetch is built in) against the local stack:
//
//   KIMIYI_API_BASE=http://127.0.0.1:3000 KIMIYI_API_KEY=local-dev-key node guide_frontend.mjs make-call < body.json
//   KIMIYI_API_BASE=... KIMIYI_API_KEY=... node guide_frontend.mjs metrics <trackingId>
//
// Each prints one JSON line: `reads`, the values of exactly the fields the guide reads (a field the
// answer lacks throws the guide's TypeError, and the process exits non-zero with it on stderr), and
// for the test that drives the call, `status` and the ids it needs.

const API_BASE = process.env.KIMIYI_API_BASE;
const API_KEY = process.env.KIMIYI_API_KEY;

async function makeOptimizedCall(callData) {
  const response = await fetch(`${API_BASE}/api/make-call-optimized`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify(callData),
  });
  const result = await response.json(); // POST /api/make-call-optimized
  const reads = {
    success: result.success,
    callSid: result.callSid,
    expectedLatency: result.optimization.expectedLatency,
    features: result.optimization.features,
  };
  return { status: response.status, reads, trackingId: result.trackingId, twimlUrl: result.twimlUrl };
}

async function getPerformanceMetrics(trackingId) {
  const response = await fetch(`${API_BASE}/api/performance-metrics/${trackingId}`, {
    headers: { 'x-api-key': API_KEY },
  });
  const metrics = await response.json(); // GET /api/performance-metrics/${trackingId}
  const reads = {
    averageLatency: metrics.metrics.averageLatency,
    cacheHitRate: metrics.metrics.cacheHitRate,
    optimizationEnabled: metrics.optimization.enabled,
  };
  return { status: response.status, reads };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const [command, argument] = process.argv.slice(2);
const answer =
  command === 'make-call' ? await makeOptimizedCall(await readStdin()) : await getPerformanceMetrics(argument);
// undefined is not JSON: a field the answer lacks is printed as null under `missing`, so the test sees it
const missing = Object.keys(answer.reads).filter((name) => answer.reads[name] === undefined);
console.log(JSON.stringify({ ...answer, missing }));
