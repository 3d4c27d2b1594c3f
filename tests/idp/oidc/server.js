// Local OpenID Connect provider for Switchboard's SSO tests and demo. Loopback only.
//
// Built on the oidc-provider package (installed from package-lock.json by `make idp`).
//
//   node tests/idp/oidc/server.js
//
// Environment (all optional):
//   IDP_PORT           port on 127.0.0.1 (default 0: a free port)
//   IDP_ACCOUNTS_FILE  JSON file {"<login>": {"password", "email", "name", "groups": [...],
//                      "email_verified" (optional: true when absent; null sends it empty)}},
//                      read again at every lookup, so a test can change groups or remove a user
//                      while the provider runs (default: one account per demo role, below)
//   IDP_CLIENT_ID      client id (default "switchboard")
//   IDP_CLIENT_SECRET  client secret (default "switchboard-local-secret")
//   IDP_API_RESOURCES  resource indicators (RFC 8707) the provider issues JWT access tokens
//                      for, comma-separated (default "urn:switchboard:api,urn:other-app:api");
//                      a token request with resource=<one of them> gets an RFC 9068 JWT access
//                      token with that audience, carrying email, email_verified and groups
//
// Prints one line "IDP_READY <issuer>" on stdout once it listens. RS256 keys are generated at
// every start. The code flow requires PKCE (S256). Login and consent are two small HTML forms.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider, { errors, interactionPolicy as policies } from 'oidc-provider';

const ROLES = ['support', 'sales', 'finance', 'ops', 'admin'];
const DEMO_PASSWORD = 'switchboard-demo';

function defaultAccounts() {
  const accounts = {};
  for (const role of ROLES) {
    accounts[role] = {
      password: DEMO_PASSWORD,
      email: `${role}@demo.switchboard.test`,
      name: `${role[0].toUpperCase()}${role.slice(1)} Demo`,
      groups: [`switchboard-${role}`],
    };
  }
  accounts.nobody = {
    password: DEMO_PASSWORD,
    email: 'nobody@demo.switchboard.test',
    name: 'Nobody Demo',
    groups: ['some-other-app'],
  };
  return accounts;
}

function loadAccounts() {
  const file = process.env.IDP_ACCOUNTS_FILE;
  if (!file) return defaultAccounts();
  return JSON.parse(readFileSync(file, 'utf8'));
}

function findAccountRecord(login) {
  const accounts = loadAccounts();
  return Object.prototype.hasOwnProperty.call(accounts, login) ? accounts[login] : undefined;
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:4em auto}input,button{display:block;margin:.5em 0;padding:.4em;width:100%}</style>
</head><body><h1>${escapeHtml(title)}</h1><p><em>Local test identity provider</em></p>${body}</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p>Interaction mismatch.</p>'));
    return;
  }
  const { prompt, params } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      send(res, 200, page('Sign in', `<form method="post" action="/interaction/${uid}/login">
<label>Login <input name="login" autocomplete="username" value="${escapeHtml(params.login_hint || '')}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>
<p>Demo accounts: ${ROLES.map(escapeHtml).join(', ')}, nobody (password ${DEMO_PASSWORD}).</p>`));
    } else {
      const scopes = [...new Set(String(params.scope || '').split(' '))].filter(Boolean);
      send(res, 200, page('Authorize', `<p>${escapeHtml(params.client_id)} asks for: ${scopes.map(escapeHtml).join(', ')}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`));
    }
    return;
  }
  if (action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    const account = findAccountRecord(login);
    if (!account || account.password !== form.get('password')) {
      send(res, 401, page('Sign in', '<p>Wrong login or password.</p>'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  send(res, 400, page('Error', '<p>Unexpected step.</p>'));
}

// The default policy, except that:
// - consent once given is remembered for our native (loopback) client too, so the relying party's
//   periodic prompt=none re-check needs no form;
// - a session whose account was removed from the accounts file needs a new login (prompt=none
//   then answers login_required, as an IdP does for a disabled user).
function interactionPolicy() {
  const policy = policies.base();
  policy.get('consent').checks.remove('native_client_prompt');
  policy.get('login').checks.unshift(new policies.Check(
    'account_removed',
    'End-User account no longer exists',
    'login_required',
    (ctx) => Boolean(ctx.oidc.session.accountId && !ctx.oidc.account),
  ));
  return policy;
}

const API_RESOURCES = (process.env.IDP_API_RESOURCES || 'urn:switchboard:api,urn:other-app:api')
  .split(',').map((r) => r.trim()).filter(Boolean);

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

let handler = (_req, res) => { res.writeHead(503); res.end(); };
const server = http.createServer((req, res) => handler(req, res));
server.listen(Number(process.env.IDP_PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.IDP_CLIENT_ID || 'switchboard',
      client_secret: process.env.IDP_CLIENT_SECRET || 'switchboard-local-secret',
      // Native loopback redirect URIs match on any port (RFC 8252), so one client fits every
      // test live server and the demo.
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/oidc/callback/', 'http://localhost/oidc/callback/'],
      post_logout_redirect_uris: ['http://127.0.0.1/sso/signed-out/', 'http://localhost/sso/signed-out/'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [signingKey()] },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (!API_RESOURCES.includes(resource)) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience: resource,
            accessTokenTTL: 10 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      if (!token.resourceServer) return undefined;
      const account = findAccountRecord(token.accountId);
      if (!account) return undefined;
      return {
        email: account.email,
        email_verified: 'email_verified' in account ? account.email_verified : true,
        groups: account.groups || [],
      };
    },
    interactions: { policy: interactionPolicy(), url: (_ctx, i) => `/interaction/${i.uid}` },
    cookies: { keys: [randomUUID()] },
    async findAccount(_ctx, sub) {
      const account = findAccountRecord(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: account.email,
            email_verified: 'email_verified' in account ? account.email_verified : true,
            name: account.name,
            preferred_username: sub,
            groups: account.groups || [],
          };
        },
      };
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  const callback = provider.callback();
  handler = (req, res) => {
    const match = /^\/interaction\/([^/?]+)(?:\/(login|confirm|abort))?\/?(?:\?.*)?$/.exec(req.url || '');
    if (match) {
      interaction(provider, req, res, match[1], match[2]).catch((err) => {
        send(res, 400, page('Error', `<p>${escapeHtml(err.message)}</p>`));
      });
      return;
    }
    callback(req, res);
  };
  process.stdout.write(`IDP_READY ${issuer}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
