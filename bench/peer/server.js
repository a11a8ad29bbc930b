// The peer Gatehouse is measured against: panva's oidc-provider (a certified OpenID Provider),
// configured for the same work: client_credentials with client_secret_basic, access tokens for
// a resource as RS256 JWT, ES256 JWT or opaque (chosen by the `resource` parameter), and
// introspection. Keys are generated at start. Usage: node server.js PORT
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
  }],
  scopes: ['api'],
  jwks: { keys: [jwk(rsa, 'RS256'), jwk(ec, 'ES256')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://rs256.example',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({ scope: 'api', audience: resource, ...resources[resource] }),
    },
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`peer listening on ${issuer}`));
