// How an app backend mints a CBSA ingest token (JWT mode) for one device, with jose. The backend
// authenticates the device its own way (a login, an attested install), then signs a short-lived
// token whose `sub` is the device's id; the device opens its streams as `<sub>` or `<sub>:<anything>`
// and refreshes the token before it expires.
//
// ES256 (the service holds only the public key, AUTH_JWT_PUBLIC_KEY or a JWKS at AUTH_JWKS_URL):
//   node examples/mint-token.mjs --generate            # prints a new key pair (PEM) once
//   PRIVATE_KEY_PEM="$(cat cbsa-signing.pem)" node examples/mint-token.mjs install-42
// HS256 (the service holds the same secret, AUTH_JWT_SECRET, at least 32 bytes):
//   AUTH_JWT_SECRET=... node examples/mint-token.mjs install-42
//
// ISSUER and AUDIENCE must equal the service's AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE; TTL_S is the
// token's lifetime (default 900 s); SCOPE=cbsa:monitor mints a monitor token instead.
import { SignJWT, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8 } from 'jose';

const issuer = process.env.ISSUER ?? 'https://auth.example.com';
const audience = process.env.AUDIENCE ?? 'cbsa';
const ttlS = Number(process.env.TTL_S ?? 900);
const kid = process.env.KID ?? 'cbsa-2026-01';

if (process.argv[2] === '--generate') {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  console.log(`# private key (keep it in the backend only):\n${await exportPKCS8(privateKey)}`);
  console.log(`# public key (AUTH_JWT_PUBLIC_KEY of the service):\n${await exportSPKI(publicKey)}`);
  process.exit(0);
}

const sub = process.argv[2];
if (!sub || !/^[A-Za-z0-9._:@-]{1,200}$/.test(sub)) {
  console.error('usage: node examples/mint-token.mjs <device id of [A-Za-z0-9._:@-], 1-200 characters>');
  process.exit(2);
}

let alg;
let key;
if (process.env.PRIVATE_KEY_PEM) {
  alg = 'ES256';
  key = await importPKCS8(process.env.PRIVATE_KEY_PEM, alg);
} else if (process.env.AUTH_JWT_SECRET) {
  alg = 'HS256';
  key = new TextEncoder().encode(process.env.AUTH_JWT_SECRET);
} else {
  console.error('set PRIVATE_KEY_PEM (ES256) or AUTH_JWT_SECRET (HS256); --generate makes a key pair');
  process.exit(2);
}

const token = await new SignJWT(process.env.SCOPE ? { scope: process.env.SCOPE } : {})
  .setProtectedHeader({ alg, kid, typ: 'JWT' })
  .setSubject(sub)
  .setIssuer(issuer)
  .setAudience(audience)
  .setIssuedAt()
  .setExpirationTime(`${ttlS}s`)
  .sign(key);
console.log(token);
