// panva's openid-client (a certified relying-party library) against Gatehouse, through
// discovery and dynamic registration only. Prints one line per check.
// Usage: node rp.mjs ISSUER INITIAL_ACCESS_TOKEN EMAIL PASSWORD
import * as client from 'openid-client';

const [issuer, initialAccessToken, email, password] = process.argv.slice(2);
const REDIRECT = 'https://rp.example.test/cb';
const insecure = { execute: [client.allowInsecureRequests] };
let passed = 0, failed = 0;
const check = async (name, fn) => {
  try { await fn(); passed++; console.log(`ok   node: ${name}`); }
  catch (e) { failed++; console.log(`FAIL node: ${name}: ${e?.message ?? e}`); }
};
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };

// A minimal browser: manual redirects, a cookie jar, and answers to Gatehouse's forms.
const jar = new Map();
async function go(url, init = {}) {
  const headers = { ...(init.headers || {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';'); const i = pair.indexOf('=');
    const [k, v] = [pair.slice(0, i), pair.slice(i + 1)];
    if (v) jar.set(k, v); else jar.delete(k);
  }
  return res;
}
const hidden = (html, name) => (html.match(new RegExp(`name="${name}" value="([^"]*)"`)) || [])[1];
async function signIn(url) {
  let res = await go(url);
  for (let i = 0; i < 10; i++) {
    const loc = res.headers.get('location');
    if (loc && loc.startsWith(REDIRECT)) return new URL(loc);
    if (loc) { res = await go(new URL(loc, issuer)); continue; }
    const html = await res.text();
    const action = hidden(html, 'action');
    if (!action) throw new Error(`no form (status ${res.status})`);
    const form = new URLSearchParams({ request: hidden(html, 'request'), csrf: hidden(html, 'csrf'), action });
    if (action === 'login') { form.set('email', email); form.set('password', password); }
    if (action === 'approve') form.set('decision', 'approve');
    if (action === 'consent') form.set('decision', 'allow');
    if (action === 'tenant') form.set('tenant', hidden(html, 'tenant'));
    res = await go(new URL('/signin', issuer), { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
  throw new Error('sign-in did not finish');
}

let config, tokens, serviceConfig;
await check('discovery and JWKS shape', async () => {
  const discovered = await client.discovery(new URL(issuer), 'unused', undefined, undefined, insecure);
  const md = discovered.serverMetadata();
  assert(md.issuer === issuer, 'issuer');
  assert(md.code_challenge_methods_supported.includes('S256'), 'S256');
  const jwks = await (await fetch(md.jwks_uri)).json();
  assert(jwks.keys.length > 0 && jwks.keys.every(k => k.kid && !k.d), 'public keys with kids');
});
await check('dynamic registration', async () => {
  config = await client.dynamicClientRegistration(new URL(issuer), {
    redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
    post_logout_redirect_uris: ['https://rp.example.test/bye'], client_name: 'openid-client conformance',
  }, undefined, { initialAccessToken, ...insecure });
  assert(config.clientMetadata().client_id, 'client_id');
});
const pkce = { verifier: client.randomPKCECodeVerifier() };
pkce.challenge = await client.calculatePKCECodeChallenge(pkce.verifier);
const state = client.randomState(), nonce = client.randomNonce();
let callback;
await check('code + PKCE with nonce and state; ID token validated by the library', async () => {
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile email', code_challenge: pkce.challenge, code_challenge_method: 'S256', state, nonce });
  callback = await signIn(url);
  tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: pkce.verifier, expectedState: state, expectedNonce: nonce });
  assert(tokens.claims().sub, 'sub');
});
await check('code replay is invalid_grant', async () => {
  try { await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: pkce.verifier, expectedState: state, expectedNonce: nonce }); }
  catch (e) { assert(e.error === 'invalid_grant', e.error); return; }
  throw new Error('replay accepted');
});
await check('userinfo', async () => {
  const fresh = await (async () => {
    const v = client.randomPKCECodeVerifier(); const c = await client.calculatePKCECodeChallenge(v);
    const s = client.randomState(), n = client.randomNonce();
    const cb = await signIn(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid email', code_challenge: c, code_challenge_method: 'S256', state: s, nonce: n }));
    return client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: v, expectedState: s, expectedNonce: n });
  })();
  tokens = fresh;
  const info = await client.fetchUserInfo(config, fresh.access_token, fresh.claims().sub);
  assert(info.email === email, `email ${info.email}`);
});
await check('refresh', async () => {
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated');
  tokens = refreshed;
});
await check('PKCE mismatch is invalid_grant', async () => {
  const v = client.randomPKCECodeVerifier(); const c = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  const s = client.randomState(), n = client.randomNonce();
  const cb = await signIn(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: c, code_challenge_method: 'S256', state: s, nonce: n }));
  try { await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: v, expectedState: s, expectedNonce: n }); }
  catch (e) { assert(e.error === 'invalid_grant', e.error); return; }
  throw new Error('mismatched verifier accepted');
});
await check('wrong redirect URI is never redirected to', async () => {
  const url = client.buildAuthorizationUrl(config, { redirect_uri: 'https://evil.example.test/cb', scope: 'openid', code_challenge: pkce.challenge, code_challenge_method: 'S256' });
  const res = await fetch(url, { redirect: 'manual' });
  assert(res.status === 400 && !res.headers.get('location'), `status ${res.status}`);
});
await check('client credentials', async () => {
  serviceConfig = await client.dynamicClientRegistration(new URL(issuer), { grant_types: ['client_credentials'], response_types: [], client_name: 'openid-client service' }, undefined, { initialAccessToken, ...insecure });
  const cc = await client.clientCredentialsGrant(serviceConfig, { scope: 'webapi' });
  assert(cc.access_token && !cc.refresh_token, 'access token only');
});
await check('introspection', async () => {
  const r = await client.tokenIntrospection(config, tokens.access_token);
  assert(r.active === true && r.client_id === config.clientMetadata().client_id, JSON.stringify(r));
});
await check('revocation', async () => {
  await client.tokenRevocation(config, tokens.access_token);
  const r = await client.tokenIntrospection(config, tokens.access_token);
  assert(r.active === false, 'still active');
});
await check('wrong secret is 401 invalid_client', async () => {
  const res = await fetch(new URL('/token', issuer), { method: 'POST', headers: { authorization: 'Basic ' + Buffer.from(`${config.clientMetadata().client_id}:wrong`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x' });
  assert(res.status === 401 && (await res.json()).error === 'invalid_client', `status ${res.status}`);
});
await check('unsupported grant is unsupported_grant_type', async () => {
  try { await client.genericGrantRequest(config, 'password', { username: 'a', password: 'b' }); }
  catch (e) { assert(e.error === 'unsupported_grant_type', e.error); return; }
  throw new Error('accepted');
});
await check('RP-initiated logout', async () => {
  const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'https://rp.example.test/bye', state: 'bye1' });
  const res = await go(url);
  assert(res.status === 303 && res.headers.get('location') === 'https://rp.example.test/bye?state=bye1', `${res.status} ${res.headers.get('location')}`);
});
console.log(`node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
