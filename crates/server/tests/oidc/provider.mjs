// A real OpenID provider for Castellan's OIDC tests: Node's oidc-provider (9.x, from the npm
// registry) on loopback with its built-in login and consent pages, one static confidential
// client, PKCE required. Usage:
//   OIDC_PROVIDER_DIR=<dir holding node_modules/oidc-provider> node provider.mjs <redirect_uri>
// Prints {"issuer": "..."} on its first line once listening. Any login signs in (the dev
// login page takes any password); the login is the subject and the e-mail. A login starting
// with "unverified" gets email_verified false. Groups: OIDC_GROUPS (JSON login → [groups]),
// else ["Castellan Users"].
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.OIDC_PROVIDER_DIR;
if (!dir) {
  console.error('set OIDC_PROVIDER_DIR');
  process.exit(2);
}
const entry = path.join(dir, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(entry).href);

const redirect = process.argv[2];
const groups = JSON.parse(process.env.OIDC_GROUPS || '{}');

const server = http.createServer();
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'castellan',
    client_secret: 'castellan-test-secret',
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  // Put email and groups in the ID token too (Okta and Entra do); Castellan reads userinfo
  // for whatever the ID token lacks.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub', 'groups'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  cookies: { keys: ['castellan-oidc-test-cookie-key'] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      email: sub.includes('@') ? sub : `${sub}@example.test`,
      email_verified: !sub.startsWith('unverified'),
      name: sub,
      groups: groups[sub] ?? ['Castellan Users'],
    }),
  }),
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
