// A real OpenID Connect provider (node-oidc-provider) on loopback, for the hub's single sign-on
// tests and for trying SSO locally. Not for production: it uses the library's development
// interactions (any password) and development signing keys.
//
//   OIDC_PORT=9400 OIDC_CLIENT_SECRET=... OIDC_ACCOUNTS='{"olga":{"email":"olga@x","groups":["crm-heads"]}}' node provider.mjs
//
// People sign in with the authorization-code flow (client `crm-hub`, PKCE); their access token is
// a JWT for the resource `urn:crm-hub` with audience `crm-hub`, carrying `email` and `groups`.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 9400);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const redirect = process.env.OIDC_REDIRECT_URI || 'http://127.0.0.1/sso/callback';

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'crm-hub',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'crm-hub-local-secret',
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, email: account.email, groups: account.groups || [] }; } };
  },
  claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'email', 'groups'],
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:crm-hub',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'openid email groups',
        audience: 'crm-hub',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  async extraTokenClaims(ctx, token) {
    const account = accounts[token.accountId];
    return account ? { email: account.email, groups: account.groups || [] } : {};
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc provider ready at ${issuer}`);
});
