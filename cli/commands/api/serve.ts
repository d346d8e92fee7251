import { Flags } from '@oclif/core';
import { EggError } from '../../../src/errors.js';
import { EggCommand } from '../../base.js';

export default class ApiServe extends EggCommand {
  static override summary =
    'Serve the HTTP API (service mode): JWT-checked, members per namespace, every call audited.';
  static override description = `Each request carries a JWT from a trusted issuer (Authorization: Bearer): a person's ID token from \`egg login\`, or a GitHub Actions job's OIDC token. The API checks its signature against the issuer's JWKS, its issuer, audience, expiry and not-before (30 s of skew) and its algorithm (asymmetric only) before anything else runs, then the caller's membership of the namespace: a caller who is not a member gets the 404 of a namespace that does not exist. Every call is recorded in the namespace's audit trail, refused ones too.

Each caller (issuer and sub) may make --sub-rps calls a second, --sub-burst at once (10 and 20 by default), counted in the backend's store, so every server on one store shares the count. A call over the limit is answered 429 with Retry-After before anything else runs; --sub-rps 0 turns the limit off (put one in front of the API then).

Issuers come from --issuer (with --audience; "github" is GitHub Actions') and from EGG_API_ISSUERS, a JSON array of {"issuer", "audience", "jwksUri"?}. Keys are read from each issuer's discovery document unless jwksUri is given.

It speaks plain HTTP: put TLS in front of it anywhere but loopback. See docs/service.md.`;
  static override examples = [
    '<%= config.bin %> api serve --issuer https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC --audience 4p1c1ient1d',
    '<%= config.bin %> api serve --issuer github --audience https://egg.example.com --port 8788',
    '<%= config.bin %> api serve --issuer github --audience https://egg.example.com --sub-rps 5 --sub-burst 10',
  ];
  static override flags = {
    host: Flags.string({ summary: 'Address to listen on.', default: '127.0.0.1' }),
    port: Flags.integer({
      summary: 'Port to listen on (0: any free port).',
      default: 8788,
      min: 0,
      max: 65535,
    }),
    issuer: Flags.string({
      summary: 'An issuer whose JWTs the API accepts (its URL, or "github"). Repeatable.',
      multiple: true,
      dependsOn: ['audience'],
    }),
    audience: Flags.string({
      summary: 'The audience (aud) the issuers of --issuer put in tokens for this API. Repeatable.',
      multiple: true,
      dependsOn: ['issuer'],
    }),
    'sub-rps': Flags.integer({
      summary: 'Calls a second each caller (issuer and sub) may make on average; 0: no limit.',
      default: 10,
      min: 0,
    }),
    'sub-burst': Flags.integer({
      summary: 'Calls each caller may make at once (its window holds this many).',
      default: 20,
      min: 1,
    }),
  };

  async run() {
    const { flags } = await this.parse(ApiServe);
    const [{ issuerSetting, readIssuers }, { serveApi }, { openApiService }] = await Promise.all([
      import('../../../src/api/jwt.js'),
      import('../../../src/api/serve.js'),
      import('../../../src/api/service.js'),
    ]);
    const config = this.eggConfig(flags);
    const issuers = (flags.issuer ?? []).map((issuer) => issuerSetting(issuer, flags.audience ?? []));
    const fromEnv = process.env.EGG_API_ISSUERS;
    if (fromEnv !== undefined && fromEnv !== '') issuers.push(...readIssuers(fromEnv));
    if (issuers.length === 0)
      throw new EggError('ERR_USAGE', 'the API needs at least one issuer to trust', {
        hint: 'pass --issuer URL --audience AUD (or --issuer github), or set EGG_API_ISSUERS',
      });
    const callLimit = flags['sub-rps'] === 0 ? false : { rps: flags['sub-rps'], burst: flags['sub-burst'] };
    const service = await openApiService(config, { issuers, logger: this.logger, callLimit });
    let server;
    try {
      server = await serveApi(service.api, { host: flags.host, port: flags.port, logger: this.logger });
    } catch (error) {
      await service.close();
      throw error;
    }
    const limit =
      callLimit === false
        ? 'no limit per caller'
        : `${callLimit.rps} calls/s per caller, burst ${callLimit.burst}`;
    process.stderr.write(
      `egg api listening on ${server.url} (issuers: ${service.issuers.join(', ')}), ${limit}\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    setTimeout(() => process.exit(1), 5_000).unref();
    await server.close();
    await service.close();
  }
}
