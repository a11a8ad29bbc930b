// The peer Gatehouse is measured against: panva's oidc-provider (a certified OpenID Provider),
// configured for the same work. Keys are generated at start. Usage: node server.js PORT
//
// - client `bench` (bench/run.py): client_credentials with client_secret_basic, access tokens
//   for a resource as RS256 JWT, ES256 JWT or opaque (chosen by the `resource` parameter), and
//   introspection.
// - client `code` (bench/codeflow.py; `code-es256` the same with ES256): a confidential web app using the authorization code flow
//   with PKCE (S256, required), client_secret_basic, an RS256 ID token, an RS256 JWT access
//   token (the default resource, as Gatehouse's access tokens) and a refresh token. Sign-in is
//   oidc-provider's development interactions (any login name, no password check), and consent
//   counts as given (`loadExistingGrant` below), so after the login no consent page appears.
//   A refresh token is issued whenever the client may use the refresh_token grant, as Gatehouse
//   does, instead of oidc-provider's default (only for `offline_access` with prompt=consent).
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 3000);
const issuer = `http://127.0.0.1:${port}`;
const jwk = (pair, alg) => ({ ...pair.privateKey.export({ format: 'jwk' }), alg, use: 'sig' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const resources = {
  'https://rs256.example': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
  'https://es256.example': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  'https://opaque.example': { accessTokenFormat: 'opaque' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-bench-secret-bench-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api',
  }, ...[['code', 'RS256'], ['code-es256', 'ES256']].map(([id, alg]) => ({
    client_id: id,
    client_secret: 'code-secret-code-secret-code-secret-code',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['https://rp.example/cb'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
  }))],
  scopes: ['openid', 'offline_access', 'api'],
  jwks: { keys: [jwk(rsa, 'RS256'), jwk(ec, 'ES256')] },
  cookies: { keys: ['bench-cookie-key-bench-cookie-key-bench'] },
  pkce: { required: () => true },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Consent counts as given: every authorization gets a grant for `openid` without asking, as
  // Gatehouse finds the user's stored consent and starts a new grant for each code. (Reusing one
  // grant per account for every round trip would be oidc-provider's usual model, but its
  // development memory adapter rescans all the tokens of a grant whenever one is saved, so the
  // peer would slow down as the benchmark goes on: 147 -> 100 round trips/s over six 8 s runs.)
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    const grant = new ctx.oidc.provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    grant.addOIDCScope('openid');
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // `code-es256` (bench/codeflow.py --alg ES256) signs its access tokens with ES256 too.
      defaultResource: (ctx, client) => (client?.clientId === 'code-es256' ? 'https://es256.example' : 'https://rs256.example'),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({ scope: 'api', audience: resource, ...resources[resource] }),
    },
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`peer listening on ${issuer}`));
