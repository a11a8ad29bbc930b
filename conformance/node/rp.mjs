// panva's openid-client 6 (a certified relying-party library) against Gatehouse, through
// discovery and dynamic registration only. The relying party lives on another origin: this
// script runs its own callback listener on 127.0.0.1 on a free port (not the server's), and a
// real headless Chromium (playwright-core driving Debian's /usr/bin/chromium, nothing is
// downloaded) walks the pages a person sees. The listener also serves the client's public keys
// at /jwks.json (a registered jwks_uri). Prints one line per check.
//
// Usage: node rp.mjs ISSUER INITIAL_ACCESS_TOKEN ADMIN_EMAIL ADMIN_PASSWORD
//   ADMIN_EMAIL administers a tenant that has not approved this script's (new) client.
// Environment (set by conformance/run):
//   CONF_MEMBER_EMAIL, CONF_MEMBER_PASSWORD  a plain member (not administrator) of the
//                                            administrator's tenant
//   CONF_MULTI_EMAIL, CONF_MULTI_PASSWORD    a member of two tenants, administrator of
//   CONF_MULTI_TENANT                        CONF_MULTI_TENANT, the one the browser picks
//   CHROMIUM                                 the browser (default /usr/bin/chromium)
//   CONF_GATEHOUSE_BIN                       the gatehouse binary, for the operator's steps
//                                            (GATEHOUSE_DATABASE_URL names the server's database)
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import * as client from 'openid-client';
import * as jose from 'jose';
import { chromium } from 'playwright-core';
import standardWebhooks from 'standardwebhooks';

const [issuer, initialAccessToken, adminEmail, adminPassword] = process.argv.slice(2);
const env = process.env;
const admin = { email: adminEmail, password: adminPassword };
const member = { email: env.CONF_MEMBER_EMAIL, password: env.CONF_MEMBER_PASSWORD };
const multi = { email: env.CONF_MULTI_EMAIL, password: env.CONF_MULTI_PASSWORD, tenant: env.CONF_MULTI_TENANT };
const CTX_CLAIM = 'http://schemes.superoffice.net/identity/ctx';
const insecure = { execute: [client.allowInsecureRequests] };
const sleep = ms => new Promise(r => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

// Nothing may hang a CI run: the whole script is bounded too.
setTimeout(() => { console.log('FAIL node: the script did not finish within 10 minutes'); process.exit(1); }, 600_000).unref();

let passed = 0, failed = 0;
const check = async (name, fn) => {
  try { await fn(); passed++; console.log(`ok   node: ${name}`); }
  catch (e) { failed++; console.log(`FAIL node: ${name}: ${(e?.error ? `${e.error}: ` : '') + (e?.message ?? e)}`.replace(/\s+/g, ' ')); }
};
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };
/** A promise that must be refused with this OAuth error code (the library's parsed error). */
const refused = async (promise, code) => {
  try { await promise; } catch (e) { assert(e.error === code, `expected ${code}, got ${e.error ?? e.message}`); return; }
  throw new Error(`accepted, expected ${code}`);
};

// ---------------------------------------------------------------------------------------------
// The relying party's own HTTP listener: another origin than the server. It records what
// reaches it (a query, a form_post body, or nothing but the path for a fragment response), and
// serves the relying party's public keys at /jwks.json (its registered jwks_uri).
const hits = [];
let servedKeys = { keys: [] }; // what /jwks.json serves; a check rotates it
const rp = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', chunk => { if (body.length < 65536) body += chunk; });
  req.on('end', () => {
    const u = new URL(req.url, 'http://rp.invalid');
    hits.push({ method: req.method, path: u.pathname, search: u.search, body, headers: req.headers, at: Date.now() });
    if (u.pathname === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(servedKeys));
      return;
    }
    const title = u.pathname === '/bye' ? 'Signed out · RP' : 'Callback · RP';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><html><head><title>${title}</title></head><body><p>${req.method} ${u.pathname}</p></body></html>`);
  });
});
await new Promise((ok, bad) => { rp.once('error', bad); rp.listen(0, '127.0.0.1', ok); });
const RP = `http://127.0.0.1:${rp.address().port}`;
const REDIRECT = `${RP}/cb`, POST_LOGOUT = `${RP}/bye`, JWKS_URI = `${RP}/jwks.json`, BACKCHANNEL = `${RP}/backchannel`;

// ---------------------------------------------------------------------------------------------
// The browser: one Chromium for the whole script; a browser context is one person.
const PAGES = {
  'Sign in · Gatehouse': 'login',
  'Choose a tenant · Gatehouse': 'tenant',
  'Approve this app for your tenant · Gatehouse': 'approve',
  'Allow access? · Gatehouse': 'consent',
  'Connect a device · Gatehouse': 'device',
};
const ERROR_PAGE = 'Something is not right · Gatehouse';
let browser;

async function fresh(fn) {
  const context = await browser.newContext();
  try { return await fn(context); } finally { await context.close().catch(() => {}); }
}

async function pageOf(context) {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15_000);
  page.setDefaultNavigationTimeout(20_000);
  return page;
}

/** Waits (bounded) until the document `body` belonged to is gone: the click navigated. */
async function leaves(body, what, csp) {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    if (!(await body.evaluate(b => b.isConnected).catch(() => false))) return;
    await sleep(100);
  }
  throw new Error(`${what} did not leave the page${csp.length ? ` (console: ${csp.join(' | ')})` : ''}`);
}

/**
 * Opens `url` and answers Gatehouse's pages as `person` would until the browser lands on the
 * RP's `path`. `allow` lists the pages that may appear (any other is a failure); `tenant` is the
 * ctx to pick on the tenant page. Returns the pages seen, the RP listener's record and the
 * browser's URL there (which keeps a fragment the listener never sees).
 */
async function walk(context, url, { person, tenant, allow = [], path = '/cb', done, timeout = 45_000 } = {}) {
  const page = await pageOf(context);
  const csp = [];
  const onConsole = m => { if (/Content.Security.Policy|form-action/i.test(m.text())) csp.push(m.text()); };
  page.on('console', onConsole);
  const from = hits.length, seen = [];
  const deadline = Date.now() + timeout;
  let title = '', gotoError = '';
  try {
    // 'commit': a form_post page submits itself before its own load event.
    await page.goto(String(url), { waitUntil: 'commit' }).catch(e => { gotoError = e.message.split('\n')[0]; });
    while (Date.now() < deadline) {
      const hit = hits.slice(from).find(h => h.path === path);
      const at = page.url();
      if (hit && at.startsWith(RP + path)) return { pages: seen, hit, url: at };
      title = await page.title().catch(() => '');
      // A flow that ends on a page of ours (the device grant's) instead of at the RP.
      if (done && title === done) return { pages: seen, url: at };
      if (title === ERROR_PAGE) {
        const why = await page.textContent('.error', { timeout: 2000 }).catch(() => '');
        throw new Error(`Gatehouse error page after [${seen}]: ${why} (at ${at})`);
      }
      const step = PAGES[title];
      if (!step) { await sleep(100); continue; }
      assert(allow.includes(step), `unexpected page "${title}" after [${seen}]`);
      assert(seen.length < 8, `too many pages: [${seen}]`);
      seen.push(step);
      const body = await page.$('body');
      if (step === 'login') {
        const error = await page.$('.error');
        if (error) throw new Error(`the login page says: ${await error.textContent()}`);
        await page.fill('#email', person.email);
        await page.fill('#password', person.password);
        await page.click('button[type=submit]');
      } else if (step === 'tenant') {
        await page.check(`input[name=tenant][value="${tenant}"]`);
        await page.click('button[type=submit]');
      } else if (step === 'approve') {
        await page.click('button[value=approve]');
      } else if (step === 'device') {
        await page.click('button[type=submit]');
      } else {
        await page.click('button[value=allow]');
      }
      await leaves(body, `answering "${title}"`, csp);
      await body.dispose().catch(() => {});
    }
    throw new Error(`the browser did not reach ${RP}${path} within ${timeout / 1000}s; pages [${seen}], `
      + `last "${title}" at ${page.url()}${gotoError ? `; ${gotoError}` : ''}${csp.length ? `; console: ${csp.join(' | ')}` : ''}`);
  } finally {
    page.off('console', onConsole);
  }
}

const samePages = (r, want) => assert(r.pages.join(',') === want.join(','), `pages [${r.pages}], expected [${want}]`);

/** The authorization response as the RP received it (query, fragment or form_post body). */
function responseOf(r) {
  if (r.hit.method === 'POST') return new URLSearchParams(r.hit.body);
  const fragment = new URL(r.url).hash.slice(1);
  return new URLSearchParams(fragment || r.hit.search);
}

/** What openid-client consumes: the callback URL, or for form_post the POST request itself. */
function forLibrary(r) {
  if (r.hit.method === 'POST') {
    return new Request(REDIRECT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: r.hit.body });
  }
  const url = new URL(REDIRECT);
  url.search = responseOf(r).toString(); // a fragment response, as the RP's page would post it back
  return url;
}

let config;
/** One authorization request in the browser; `redeem` hands the response to the library. */
async function authorize(context, { mode, prompt, maxAge, scope = 'openid profile email', otherVerifier = false, par = false, dpop, extra = {}, ...walkOpts } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState(), nonce = client.randomNonce();
  const params = {
    redirect_uri: REDIRECT, scope, state, nonce, code_challenge_method: 'S256',
    code_challenge: await client.calculatePKCECodeChallenge(otherVerifier ? client.randomPKCECodeVerifier() : verifier),
  };
  if (mode) params.response_mode = mode;
  if (prompt) params.prompt = prompt;
  if (maxAge !== undefined) params.max_age = String(maxAge);
  Object.assign(params, extra);
  // par: the library pushes the parameters first (RFC 9126) and the browser gets a request_uri;
  // with dpop, its proof at the push binds the code to the key (RFC 9449 section 10.1).
  const url = par
    ? await client.buildAuthorizationUrlWithPAR(config, params, dpop ? { DPoP: dpop } : undefined)
    : client.buildAuthorizationUrl(config, params);
  const r = await walk(context, url, walkOpts);
  r.url0 = url;
  r.params = responseOf(r);
  r.state = state;
  r.verifier = verifier;
  r.nonce = nonce;
  r.redeem = () => client.authorizationCodeGrant(config, forLibrary(r), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, ...(maxAge !== undefined ? { maxAge } : {}),
  }, undefined, dpop ? { DPoP: dpop } : undefined);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Client authentication with the client's own keys (RFC 7523 section 2.2, RFC 7591 section 2).

/** A new RS256 key pair (WebCrypto; the private key never leaves it) and its public JWK with `kid`. */
async function rsaKey(kid) {
  const { publicKey, privateKey } = await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    false, ['sign', 'verify']);
  return { kid, privateKey, jwk: { ...(await crypto.subtle.exportKey('jwk', publicKey)), kid } };
}

/** A fetch for openid-client that keeps the form bodies it sends (to read the client assertion). */
function recordingFetch() {
  const sent = [];
  const f = (url, options) => { sent.push(new URLSearchParams(typeof options.body === 'string' ? '' : options.body ?? '')); return fetch(url, options); };
  f.sent = sent;
  return f;
}

/** The JOSE header of the client assertion in the last request `f` sent. */
function assertionHeader(f) {
  const assertion = f.sent.at(-1)?.get('client_assertion');
  assert(assertion, 'the last request carried no client_assertion');
  return JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString());
}

/** openid-client's private_key_jwt with the key's own kid, as its docs pass it: `{ key, kid }`. */
const keyAuth = key => client.PrivateKeyJwt({ key: key.privateKey, kid: key.kid });

/** Registers a client_credentials client for private_key_jwt with `metadata` (its keys). */
async function keyClient(key, metadata) {
  const f = recordingFetch();
  const cfg = await client.dynamicClientRegistration(new URL(issuer), {
    grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'private_key_jwt', ...metadata,
  }, keyAuth(key), { initialAccessToken, ...insecure, [client.customFetch]: f });
  const md = cfg.clientMetadata();
  assert(md.client_secret === undefined, 'a private_key_jwt client was given a client_secret');
  assert(md.token_endpoint_auth_method === 'private_key_jwt', `token_endpoint_auth_method ${md.token_endpoint_auth_method}`);
  return { cfg, f };
}

/** The same client with another key (what a client does after rotating). */
function withKey({ cfg }, key) {
  const f = recordingFetch();
  const other = new client.Configuration(cfg.serverMetadata(), cfg.clientMetadata().client_id, cfg.clientMetadata(), keyAuth(key));
  client.allowInsecureRequests(other);
  other[client.customFetch] = f;
  return { cfg: other, f };
}

/** Client credentials with private_key_jwt: a token, and the assertion named the key's kid. */
async function keyToken({ cfg, f }, key) {
  const t = await client.clientCredentialsGrant(cfg, { scope: 'webapi' }).catch(async e => {
    const body = e.response && !e.error ? await e.response.text().catch(() => '') : '';
    throw new Error(`${e.status ?? ''} ${e.error ?? ''} ${e.error_description ?? ''} ${body || e.message}`);
  });
  assert(t.access_token, 'access token');
  const header = assertionHeader(f);
  assert(header.kid === key.kid && header.alg === 'RS256', `assertion header ${JSON.stringify(header)}`);
  return t;
}

const jwksFetches = () => hits.filter(h => h.path === '/jwks.json');

/** A promise that must fail with 401 invalid_client. openid-client reports a 401 that carries a
 * WWW-Authenticate challenge as WWWAuthenticateChallengeError: the OAuth error is in its body. */
async function unauthorized(promise) {
  try { await promise; } catch (e) {
    const body = e.response && !e.error ? await e.response.json().catch(() => ({})) : { error: e.error };
    assert(e.status === 401 && body.error === 'invalid_client', `expected 401 invalid_client, got ${e.status} ${body.error ?? e.message}`);
    return;
  }
  throw new Error('accepted, expected 401 invalid_client');
}

// ---------------------------------------------------------------------------------------------
let adminContext, first, formPost, live, latest, rotated, serviceConfig, key1, keyed, keyedToken, uriClient, loggedOutAt;
try {
  await check('headless Chromium starts', async () => {
    browser = await chromium.launch({
      executablePath: env.CHROMIUM || '/usr/bin/chromium',
      timeout: 60_000,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    });
    adminContext = await browser.newContext();
  });
  await check('discovery validated by openid-client; JWKS shape', async () => {
    const discovered = await client.discovery(new URL(issuer), 'unused', undefined, undefined, insecure);
    const md = discovered.serverMetadata();
    assert(md.issuer === issuer, 'issuer');
    assert(md.code_challenge_methods_supported.includes('S256'), 'S256');
    for (const mode of ['query', 'fragment', 'form_post']) assert(md.response_modes_supported?.includes(mode), `response mode ${mode}`);
    const jwks = await (await fetch(md.jwks_uri, { signal: AbortSignal.timeout(20_000) })).json();
    assert(jwks.keys.length > 0 && jwks.keys.every(k => k.kid && !k.d), 'public keys with kids');
  });
  await check(`dynamic registration of ${REDIRECT} (another origin than the server)`, async () => {
    config = await client.dynamicClientRegistration(new URL(issuer), {
      redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      post_logout_redirect_uris: [POST_LOGOUT], client_name: 'openid-client conformance',
      // OIDC Back-Channel Logout 1.0: the RP's listener is told when a session ends.
      backchannel_logout_uri: BACKCHANNEL,
      // openid-client authenticates with client_secret_post unless told otherwise; the server
      // holds a client to the one method it registered (RFC 7591 section 2).
      token_endpoint_auth_method: 'client_secret_post',
    }, undefined, { initialAccessToken, ...insecure });
    assert(config.clientMetadata().client_id, 'client_id');
    assert(config.clientMetadata().token_endpoint_auth_method === 'client_secret_post', `token_endpoint_auth_method ${config.clientMetadata().token_endpoint_auth_method}`);
  });
  // No browser involved. The jwks_uri client's first fetch happens here, well over 30 s before
  // the rotation check at the end of the script needs the server to fetch again.
  await check("private_key_jwt with the client's own kid (jwks): no client_secret; client credentials with openid-client's PrivateKeyJwt", async () => {
    key1 = await rsaKey('node-k1');
    keyed = await keyClient(key1, { client_name: 'openid-client private_key_jwt', jwks: { keys: [key1.jwk] } });
    keyedToken = await keyToken(keyed, key1);
  });
  await check('introspection with private_key_jwt: active', async () => {
    const r = await client.tokenIntrospection(keyed.cfg, keyedToken.access_token);
    assert(r.active === true && r.client_id === keyed.cfg.clientMetadata().client_id, JSON.stringify(r));
    assert(assertionHeader(keyed.f).kid === key1.kid, 'the assertion did not name the kid');
  });
  await check('revocation with private_key_jwt; the token is then inactive', async () => {
    await client.tokenRevocation(keyed.cfg, keyedToken.access_token);
    assert(assertionHeader(keyed.f).kid === key1.kid, 'the assertion did not name the kid');
    const r = await client.tokenIntrospection(keyed.cfg, keyedToken.access_token);
    assert(r.active === false, JSON.stringify(r));
  });
  await check(`private_key_jwt with keys at jwks_uri ${JWKS_URI} (the RP's listener): client credentials; the server fetched the set`, async () => {
    servedKeys = { keys: [key1.jwk] };
    const before = jwksFetches().length;
    uriClient = await keyClient(key1, { client_name: 'openid-client jwks_uri', jwks_uri: JWKS_URI });
    assert(uriClient.cfg.clientMetadata().jwks_uri === JWKS_URI, `jwks_uri ${uriClient.cfg.clientMetadata().jwks_uri}`);
    await keyToken(uriClient, key1);
    assert(jwksFetches().length > before, 'the server never fetched the jwks_uri');
  });
  // Before any administrator has signed in: the tenant has not approved this new client.
  await check('a plain member of a tenant that has not approved the app gets access_denied at the RP', async () => {
    assert(member.email && member.password, 'CONF_MEMBER_EMAIL / CONF_MEMBER_PASSWORD are not set');
    await fresh(async context => {
      const r = await authorize(context, { person: member, allow: ['login'] });
      samePages(r, ['login']);
      assert(r.params.get('error') === 'access_denied', `RP got ${r.hit.method} ${r.hit.search}`);
      await refused(r.redeem(), 'access_denied');
    });
  });
  let webhookSecret;
  await check("webhooks: the operator registers the RP's /webhook for the app (gatehouse app webhook add); the secret is shown once", async () => {
    const operator = (...args) => execFileSync(env.CONF_GATEHOUSE_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const added = JSON.parse(operator('--json', 'app', 'webhook', 'add', config.clientMetadata().client_id, `${RP}/webhook`));
    webhookSecret = added.secret;
    assert(webhookSecret?.startsWith('whsec_'), `secret ${webhookSecret}`);
  });
  let approvalStarted;
  await check('first sign-in in Chromium: login, approval, consent, then the code at the cross-origin RP (query); ID token validated', async () => {
    approvalStarted = Date.now();
    first = await authorize(adminContext, { person: admin, allow: ['login', 'approve', 'consent'] });
    samePages(first, ['login', 'approve', 'consent']);
    assert(first.hit.method === 'GET' && new URLSearchParams(first.hit.search).get('code'), `RP got ${first.hit.method} ${first.hit.search}`);
    assert(first.params.get('iss') === issuer, `iss ${first.params.get('iss')}`);
    first.tokens = await first.redeem();
    assert(first.tokens.claims().sub && first.tokens.refresh_token, 'sub and refresh token');
  });
  await check("webhooks: the tenant's approval reached the RP's /webhook, and the standardwebhooks library verifies its signature (approval.granted for this app and tenant)", async () => {
    const deadline = Date.now() + 10_000;
    let hit;
    while (!(hit = hits.find(h => h.path === '/webhook')) && Date.now() < deadline) await sleep(50);
    assert(hit, 'no webhook within 10 s');
    const event = new standardWebhooks.Webhook(webhookSecret).verify(hit.body, hit.headers);
    assert(event.type === 'approval.granted', `type ${event.type}`);
    assert(event.data.client_id === config.clientMetadata().client_id, JSON.stringify(event.data));
    let forged;
    try { new standardWebhooks.Webhook(webhookSecret).verify(hit.body.replace('granted', 'revoked'), hit.headers); forged = 'accepted'; } catch { forged = 'refused'; }
    assert(forged === 'refused', 'a changed body still verified');
    const callback = first.hit.at;
    console.log(`   webhook reached the RP ${hit.at - approvalStarted} ms after the sign-in began, ${hit.at - callback} ms from the code's callback`);
    assert(hit.at <= callback + 1000, 'the event came more than a second after the approval');
  });
  await check('code replay is invalid_grant and revokes what the code gave', async () => {
    await refused(first.redeem(), 'invalid_grant');
    const r = await client.tokenIntrospection(config, first.tokens.access_token);
    assert(r.active === false, `the first access token is still active: ${JSON.stringify(r)}`);
  });
  await check('response_mode=fragment: the code reaches the RP page in the fragment only; ID token validated', async () => {
    const r = await authorize(adminContext, { mode: 'fragment' });
    samePages(r, []);
    assert(r.hit.search === '', `the RP server saw a query: ${r.hit.search}`);
    assert(new URL(r.url).hash.includes('code='), `no code in ${r.url}`);
    const t = await r.redeem();
    assert(t.claims().sub === first.tokens.claims().sub, 'same person');
  });
  await check('response_mode=form_post: the RP receives a POST with the code; ID token validated', async () => {
    formPost = await authorize(adminContext, { mode: 'form_post' });
    samePages(formPost, []);
    assert(formPost.hit.method === 'POST' && new URLSearchParams(formPost.hit.body).get('code'), `RP got ${formPost.hit.method} ${formPost.hit.search}`);
    formPost.tokens = await formPost.redeem();
  });
  await check('prompt=none with a live session: a code without any page', async () => {
    const r = await authorize(adminContext, { prompt: 'none' });
    samePages(r, []);
    assert(r.params.get('code'), `RP got ${r.hit.search}`);
    live = await r.redeem();
    assert(live.refresh_token, 'refresh token');
  });
  await check("PAR (RFC 9126): openid-client pushes the request with the app's secret; the browser's URL holds only client_id and request_uri; ID token validated", async () => {
    const endpoint = config.serverMetadata().pushed_authorization_request_endpoint;
    assert(endpoint === `${issuer}/par`, `pushed_authorization_request_endpoint ${endpoint}`);
    const r = await authorize(adminContext, { par: true });
    const names = [...r.url0.searchParams.keys()].sort().join(',');
    assert(names === 'client_id,request_uri', `the browser carried ${names}`);
    assert(r.url0.searchParams.get('request_uri').startsWith('urn:ietf:params:oauth:request_uri:'), `${r.url0}`);
    samePages(r, []);
    const t = await r.redeem();
    assert(t.claims().sub === first.tokens.claims().sub, 'same person');
    // RFC 9126 section 4: the request_uri is used once; again, it is refused on our page, not redirected.
    const again = await fetch(r.url0, { redirect: 'manual' });
    assert(again.status === 400 && !again.headers.get('location'), `a used request_uri: ${again.status} ${again.headers.get('location')}`);
  });
  await check('PAR: a push with a redirect URI that is not registered is refused with invalid_request (RFC 9126 section 2.3)', async () => {
    const params = { redirect_uri: `${RP}/elsewhere`, scope: 'openid', code_challenge_method: 'S256', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()) };
    await refused(client.buildAuthorizationUrlWithPAR(config, params), 'invalid_request');
  });
  await check("JAR (RFC 9101): openid-client signs the request with the client's own key (jwks, kid), by value and then inside a push; approval, consent, ID token validated", async () => {
    const jarKey = await rsaKey('node-jar');
    const jar = await client.dynamicClientRegistration(new URL(issuer), {
      redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'],
      client_name: 'openid-client JAR', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jarKey.jwk] },
    }, keyAuth(jarKey), { initialAccessToken, ...insecure });
    const signing = { key: jarKey.privateKey, kid: jarKey.kid };
    for (const pushed of [false, true]) {
      const verifier = client.randomPKCECodeVerifier(), state = client.randomState(), nonce = client.randomNonce();
      const params = { redirect_uri: REDIRECT, scope: 'openid email', state, nonce, code_challenge_method: 'S256', code_challenge: await client.calculatePKCECodeChallenge(verifier) };
      let url = await client.buildAuthorizationUrlWithJAR(jar, params, signing);
      assert(url.searchParams.get('request')?.split('.').length === 3, `no request object in ${url}`);
      if (pushed) url = await client.buildAuthorizationUrlWithPAR(jar, url.searchParams);
      const r = await walk(adminContext, url, pushed ? {} : { allow: ['approve', 'consent'] });
      const t = await client.authorizationCodeGrant(jar, forLibrary(r), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      assert(t.claims().email === admin.email, `email ${t.claims().email}`);
    }
  });
  await check('prompt=login: the login page again although signed in; auth_time is fresh', async () => {
    const before = now();
    const r = await authorize(adminContext, { prompt: 'login', person: admin, allow: ['login'] });
    samePages(r, ['login']);
    latest = await r.redeem();
    assert(latest.claims().auth_time >= before, `auth_time ${latest.claims().auth_time} < ${before}`);
  });
  await check('prompt=consent: the consent page again (then form_post to the RP)', async () => {
    const r = await authorize(adminContext, { prompt: 'consent', mode: 'form_post', allow: ['consent'] });
    samePages(r, ['consent']);
    assert(r.hit.method === 'POST', `RP got ${r.hit.method}`);
    await r.redeem();
  });
  await check('max_age=1 after 2 s: the login page again; auth_time fresh and checked by the library', async () => {
    const last = latest?.claims().auth_time ?? now();
    while (now() <= last + 2) await sleep(200); // bounded: at most about 3 s
    const before = now();
    const r = await authorize(adminContext, { maxAge: 1, person: admin, allow: ['login'] });
    samePages(r, ['login']);
    latest = await r.redeem();
    assert(latest.claims().auth_time >= before, `auth_time ${latest.claims().auth_time} < ${before}`);
  });
  await check('prompt=none in a fresh browser: login_required at the RP', async () => {
    await fresh(async context => {
      const r = await authorize(context, { prompt: 'none' });
      samePages(r, []);
      assert(r.params.get('error') === 'login_required', `RP got ${r.hit.search}`);
      await refused(r.redeem(), 'login_required');
    });
  });
  await check('a member of two tenants chooses one; the ID token names it', async () => {
    assert(multi.email && multi.password && multi.tenant, 'CONF_MULTI_EMAIL / CONF_MULTI_PASSWORD / CONF_MULTI_TENANT are not set');
    await fresh(async context => {
      const r = await authorize(context, { person: multi, tenant: multi.tenant, allow: ['login', 'tenant', 'approve', 'consent'] });
      assert(r.pages.slice(0, 2).join(',') === 'login,tenant' && r.pages.at(-1) === 'consent', `pages [${r.pages}]`);
      const t = await r.redeem();
      assert(t.claims()[CTX_CLAIM] === multi.tenant, `${CTX_CLAIM} = ${t.claims()[CTX_CLAIM]}`);
    });
  });
  await check('userinfo', async () => {
    const info = await client.fetchUserInfo(config, live.access_token, live.claims().sub);
    assert(info.email === admin.email, `email ${info.email}`);
  });
  await check('device authorization grant (RFC 8628): openid-client starts it and polls while the administrator opens verification_uri_complete in Chromium, confirms the code, approves and consents; ID token validated', async () => {
    const dev = await client.dynamicClientRegistration(new URL(issuer), {
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [],
      token_endpoint_auth_method: 'none', application_type: 'native', client_name: 'openid-client device',
    }, client.None(), { initialAccessToken, ...insecure });
    const response = await client.initiateDeviceAuthorization(dev, { scope: 'openid email' });
    assert(/^[A-Z]{4}-[A-Z]{4}$/.test(response.user_code), `user_code ${response.user_code}`);
    const polling = client.pollDeviceAuthorizationGrant(dev, response);
    const r = await walk(adminContext, response.verification_uri_complete, { allow: ['device', 'approve', 'consent'], done: 'Your device is signed in · Gatehouse' });
    samePages(r, ['device', 'approve', 'consent']);
    const t = await polling;
    assert(t.claims().email === admin.email && t.refresh_token, `claims ${JSON.stringify(t.claims())}`);
  });
  await check("token exchange (RFC 8693): a private_key_jwt client with the token-exchange integration point, approved in the tenant, exchanges the person's token (genericGrantRequest); act names it in the JWT and in introspection", async () => {
    const operator = (...args) => execFileSync(env.CONF_GATEHOUSE_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const key = await rsaKey('node-tx');
    const tx = await keyClient(key, {
      client_name: 'openid-client token exchange', jwks: { keys: [key.jwk] },
      grant_types: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    });
    const id = tx.cfg.clientMetadata().client_id;
    const exchange = () => client.genericGrantRequest(tx.cfg, 'urn:ietf:params:oauth:grant-type:token-exchange', {
      subject_token: live.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
    await refused(exchange(), 'unauthorized_client');
    operator('app', 'entitlement', id, 'token-exchange');
    operator('tenant', 'approve', '--ctx', 'Conf1', '--client-id', id);
    const t = await exchange();
    assert(t.issued_token_type === 'urn:ietf:params:oauth:token-type:access_token', `issued_token_type ${t.issued_token_type}`);
    const claims = JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url').toString());
    assert(claims.act?.sub === id && claims.sub === live.claims().sub, `claims ${JSON.stringify(claims)}`);
    const intro = await client.tokenIntrospection(tx.cfg, t.access_token);
    assert(intro.active === true && JSON.stringify(intro.act) === JSON.stringify(claims.act), `introspection ${JSON.stringify(intro)}`);
  });
  await check("DPoP (RFC 9449): openid-client's key binds a code flow's tokens; userinfo and refresh with its proofs; the bound token is refused as a bearer token", async () => {
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
    const r = await authorize(adminContext, { dpop });
    const t = await r.redeem();
    assert(t.token_type.toLowerCase() === 'dpop', `token_type ${t.token_type}`);
    const info = await client.fetchUserInfo(config, t.access_token, t.claims().sub, { DPoP: dpop });
    assert(info.email === admin.email, `email ${info.email}`);
    const again = await client.refreshTokenGrant(config, t.refresh_token, undefined, { DPoP: dpop });
    assert(again.token_type.toLowerCase() === 'dpop', `refreshed token_type ${again.token_type}`);
    const intro = await client.tokenIntrospection(config, again.access_token);
    assert(intro.active === true && intro.token_type === 'DPoP' && intro.cnf?.jkt, `introspection ${JSON.stringify(intro)}`);
    let asBearer;
    try { await client.fetchUserInfo(config, again.access_token, t.claims().sub); asBearer = 'accepted'; } catch (e) { asBearer = e.response?.status ?? e.cause?.status ?? e.status ?? e.code ?? e.message; }
    assert(asBearer === 401, `the bound token as a bearer token: ${asBearer}`);
  });
  await check("dpop_jkt by PAR (RFC 9449 section 10.1): openid-client's proof at the push binds the code; redeemed without the key it is invalid_grant, with it a DPoP token", async () => {
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
    const r1 = await authorize(adminContext, { par: true, dpop });
    await refused(client.authorizationCodeGrant(config, forLibrary(r1), {
      pkceCodeVerifier: r1.verifier, expectedState: r1.state, expectedNonce: r1.nonce,
    }), 'invalid_grant');
    const t = await (await authorize(adminContext, { par: true, dpop })).redeem();
    assert(t.token_type.toLowerCase() === 'dpop', `token_type ${t.token_type}`);
  });
  await check('the claims parameter (OIDC Core 5.5): an essential email asked for by name with scope openid is released in the ID token; an unreachable essential acr is access_denied', async () => {
    const claims = JSON.stringify({ id_token: { email: { essential: true } } });
    const r = await authorize(adminContext, { scope: 'openid', extra: { claims } });
    const t = await r.redeem();
    assert(t.claims().email === admin.email, `email ${t.claims().email}`);
    assert(t.scope.split(' ').includes('email'), `scope ${t.scope}`);
    const gold = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:gold'] } } });
    const denied = await authorize(adminContext, { extra: { claims: gold } });
    assert(denied.params.get('error') === 'access_denied', `RP got ${denied.hit.search}`);
  });
  await check('refresh rotates the refresh token', async () => {
    rotated = await client.refreshTokenGrant(config, live.refresh_token);
    assert(rotated.access_token, 'access token');
    assert(rotated.refresh_token && rotated.refresh_token !== live.refresh_token, 'the refresh token did not change');
  });
  await check('introspection of the refresh token is active (RFC 7662 §2.2)', async () => {
    const r = await client.tokenIntrospection(config, rotated.refresh_token);
    assert(r.active === true, JSON.stringify(r));
  });
  await check('reusing the rotated-out refresh token is refused with invalid_grant', async () => {
    assert(rotated, 'no rotation to test');
    await refused(client.refreshTokenGrant(config, live.refresh_token), 'invalid_grant');
  });
  await check('PKCE mismatch is invalid_grant', async () => {
    const r = await authorize(adminContext, { otherVerifier: true });
    await refused(r.redeem(), 'invalid_grant');
  });
  await check('a redirect URI that is not registered is never redirected to', async () => {
    const page = await pageOf(adminContext);
    const from = hits.length;
    const url = client.buildAuthorizationUrl(config, { redirect_uri: `${RP}/elsewhere`, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: 's' });
    const res = await page.goto(String(url));
    assert(res.status() === 400 && (await page.title()) === ERROR_PAGE, `status ${res.status()}, "${await page.title()}" at ${page.url()}`);
    await sleep(300);
    assert(!hits.slice(from).some(h => h.path === '/elsewhere'), 'the RP was called');
    url.searchParams.set('redirect_uri', 'https://evil.example.test/cb');
    const direct = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(20_000) });
    assert(direct.status === 400 && !direct.headers.get('location'), `status ${direct.status}`);
  });
  await check('client credentials', async () => {
    serviceConfig = await client.dynamicClientRegistration(new URL(issuer), { grant_types: ['client_credentials'], response_types: [], client_name: 'openid-client service', token_endpoint_auth_method: 'client_secret_post' }, undefined, { initialAccessToken, ...insecure });
    const cc = await client.clientCredentialsGrant(serviceConfig, { scope: 'webapi' });
    assert(cc.access_token && !cc.refresh_token, 'access token only');
  });
  await check('introspection', async () => {
    const r = await client.tokenIntrospection(config, formPost.tokens.access_token);
    assert(r.active === true && r.client_id === config.clientMetadata().client_id, JSON.stringify(r));
  });
  await check('revocation', async () => {
    await client.tokenRevocation(config, formPost.tokens.access_token);
    const r = await client.tokenIntrospection(config, formPost.tokens.access_token);
    assert(r.active === false, 'still active');
  });
  await check('wrong secret is 401 invalid_client', async () => {
    // With the method the client registered (client_secret_post), so only the secret is wrong.
    const wrong = new client.Configuration(config.serverMetadata(), config.clientMetadata().client_id, 'wrong', client.ClientSecretPost('wrong'));
    client.allowInsecureRequests(wrong);
    await unauthorized(client.refreshTokenGrant(wrong, 'x'));
  });
  await check('a client registered for client_secret_basic (the default) is refused with 401 invalid_client when it uses client_secret_post', async () => {
    // No token_endpoint_auth_method: the server registers client_secret_basic, and openid-client,
    // given no ClientAuth, sends the secret in the body (client_secret_post).
    const basic = await client.dynamicClientRegistration(new URL(issuer), { grant_types: ['client_credentials'], response_types: [], client_name: 'openid-client basic' }, undefined, { initialAccessToken, ...insecure });
    const md = basic.clientMetadata();
    assert(md.token_endpoint_auth_method === 'client_secret_basic', `token_endpoint_auth_method ${md.token_endpoint_auth_method}`);
    await unauthorized(client.clientCredentialsGrant(basic, { scope: 'webapi' }));
    // The same secret with the registered method works.
    const right = new client.Configuration(basic.serverMetadata(), md.client_id, md, client.ClientSecretBasic(md.client_secret));
    client.allowInsecureRequests(right);
    assert((await client.clientCredentialsGrant(right, { scope: 'webapi' })).access_token, 'access token');
  });
  await check('unsupported grant is unsupported_grant_type', async () => {
    await refused(client.genericGrantRequest(config, 'password', { username: 'a', password: 'b' }), 'unsupported_grant_type');
  });
  await check('RP-initiated logout in Chromium: back at the RP /bye with the state', async () => {
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, { id_token_hint: latest.id_token, post_logout_redirect_uri: POST_LOGOUT, state });
    loggedOutAt = Date.now();
    const r = await walk(adminContext, url, { path: '/bye' });
    samePages(r, []);
    assert(new URLSearchParams(r.hit.search).get('state') === state, `RP got ${r.hit.search}`);
  });
  await check("back-channel logout: the logout ended the session, and the RP's listener received a logout token that jose verifies against the JWKS (typ logout+jwt, iss, aud, sid of the ID token, the event, no nonce)", async () => {
    const deadline = Date.now() + 10_000;
    let hit;
    while (!(hit = hits.find(h => h.path === '/backchannel' && h.at >= loggedOutAt)) && Date.now() < deadline) await sleep(50);
    assert(hit, 'no logout token within 10 s');
    const token = new URLSearchParams(hit.body).get('logout_token');
    const md = config.serverMetadata();
    const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(md.jwks_uri)), {
      issuer, audience: config.clientMetadata().client_id, typ: 'logout+jwt', maxTokenAge: 120,
    });
    assert(protectedHeader.typ === 'logout+jwt', `typ ${protectedHeader.typ}`);
    assert(payload.events?.['http://schemas.openid.net/event/backchannel-logout'], `events ${JSON.stringify(payload.events)}`);
    assert(payload.sid && payload.sid === latest.claims().sid, `sid ${payload.sid} vs the ID token's ${latest.claims().sid}`);
    assert(payload.sub === latest.claims().sub && payload.jti && payload.nonce === undefined, JSON.stringify(payload));
    console.log(`   logout token reached the RP ${hit.at - loggedOutAt} ms after the browser opened the logout URL`);
  });
  await check('after logout, prompt=none answers login_required', async () => {
    const r = await authorize(adminContext, { prompt: 'none' });
    assert(r.params.get('error') === 'login_required', `RP got ${r.hit.search}`);
  });
  // The server fetches a client's set again when an assertion names a kid it has not seen, but
  // at most once per 30 s per client: the first fetch happened at the start of the script, so by
  // now (after the browser checks) that is normally long past; if not, wait out the rest
  // (bounded: at most about 32 s).
  await check('key rotation at the jwks_uri: a second key (node-k2) joins the set; an assertion naming it makes the server fetch again', async () => {
    assert(uriClient, 'no jwks_uri client to rotate');
    const last = jwksFetches().at(-1);
    assert(last, 'the server never fetched the jwks_uri');
    while (Date.now() < last.at + 32_000) await sleep(500);
    const key2 = await rsaKey('node-k2');
    servedKeys = { keys: [key1.jwk, key2.jwk] };
    const before = jwksFetches().length;
    await keyToken(withKey(uriClient, key2), key2);
    assert(jwksFetches().length > before, 'accepted without fetching the set again');
    await keyToken(withKey(uriClient, key1), key1); // the first key still works
  });
} finally {
  await browser?.close().catch(() => {});
  rp.close();
}
console.log(`node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
