/**
 * Entra ID credentials: OIDC (GitHub's ID token exchanged through a federated credential) or a client
 * secret, built with @azure/identity. Every token received is masked, and token failures become one
 * UserError that names the missing piece (federated credential subject, wrong secret, tenant ...).
 */
import {
  ClientAssertionCredential,
  ClientSecretCredential,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { RetryOptions } from '../util/retry.js';
import type { ResolvedAzure } from './settings.js';

export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
export const STORAGE_SCOPE = 'https://storage.azure.com/.default';

/** `core.getIDToken`, injected (the CLI has none). */
export type GetIdToken = (audience: string) => Promise<string>;

export interface CredentialOptions {
  getIdToken?: GetIdToken;
  logger: Logger;
  retry?: RetryOptions;
}

const OIDC_PERMISSION_FIX =
  'give the job `permissions: id-token: write` (and `contents: read`), or use azure-credentials instead of OIDC.';

/** The scope of an ARM endpoint: `{arm}/.default`. */
export function armScope(resourceManagerEndpoint: string): string {
  return `${resourceManagerEndpoint.replace(/\/+$/, '')}/.default`;
}

/**
 * Creates the credential for the resolved login. The returned credential masks every token it hands
 * out and throws UserErrors with the fix.
 */
export function createCredential(azure: ResolvedAzure, opts: CredentialOptions): TokenCredential {
  const { login } = azure;
  const common = {
    authorityHost: azure.authorityHost,
    disableInstanceDiscovery: azure.customAuthority,
    retryOptions: {
      maxRetries: Math.max(0, (opts.retry?.attempts ?? 4) - 1),
      retryDelayInMs: opts.retry?.baseDelayMs ?? 800,
      maxRetryDelayInMs: opts.retry?.maxDelayMs ?? 30_000,
    },
  };
  let assertionFailure: UserError | undefined;
  const inner =
    login.kind === 'secret'
      ? new ClientSecretCredential(login.tenantId, login.clientId, login.clientSecret, common)
      : new ClientAssertionCredential(
          login.tenantId,
          login.clientId,
          async () => {
            if (!opts.getIdToken) {
              assertionFailure = new UserError(
                'OIDC login needs a GitHub OIDC token, and none can be requested here (not running in GitHub Actions).',
                'Run inside GitHub Actions with `permissions: id-token: write`, or set azure-credentials ' +
                  '(the CLI reads AZURE_CREDENTIALS, or AZURE_CLIENT_SECRET with AZURE_CLIENT_ID and AZURE_TENANT_ID).',
              );
              throw assertionFailure;
            }
            try {
              const token = await opts.getIdToken(TOKEN_EXCHANGE_AUDIENCE);
              opts.logger.secret(token);
              return token;
            } catch (e) {
              const detail = e instanceof Error ? e.message : String(e);
              assertionFailure = new UserError(
                /ACTIONS_ID_TOKEN_REQUEST/.test(detail)
                  ? 'Could not get a GitHub OIDC token: the job has no permission to request one.'
                  : `Could not get a GitHub OIDC token: ${detail}`,
                OIDC_PERMISSION_FIX,
                { cause: e },
              );
              throw assertionFailure;
            }
          },
          common,
        );

  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      let token: AccessToken | null;
      try {
        token = await inner.getToken(scopes, options);
      } catch (e) {
        if (assertionFailure) throw assertionFailure;
        throw explainTokenError(e, azure, Array.isArray(scopes) ? scopes.join(' ') : scopes);
      }
      if (token) opts.logger.secret(token.token);
      return token;
    },
  };
}

/** Gets a token string for one scope (the ARM client's bearer). */
export async function getAccessToken(credential: TokenCredential, scope: string): Promise<string> {
  const token = await credential.getToken(scope);
  if (!token) {
    throw new UserError(`Entra ID returned no token for ${scope}.`, 'Check the Azure login inputs.');
  }
  return token.token;
}

/** Turns an @azure/identity failure into one line with the fix, by its AADSTS code. */
export function explainTokenError(e: unknown, azure: ResolvedAzure, scope: string): UserError {
  if (e instanceof UserError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const aadsts = /AADSTS(\d+): ([^.]*\.)/.exec(message);
  const code = aadsts?.[1];
  const summary = aadsts ? `AADSTS${code}: ${aadsts[2]}` : message.split('\n')[0]!.slice(0, 300);
  const { login } = azure;
  const what = `Entra ID refused a token for ${scope} (client ${login.clientId}, tenant ${login.tenantId}): ${summary}`;
  switch (code) {
    case '70021':
    case '700213':
    case '700212': {
      const subject = /Assertion Subject: '([^']*)'/.exec(message)?.[1];
      return new UserError(
        what,
        `Add a federated credential to app ${login.clientId} with issuer https://token.actions.githubusercontent.com, ` +
          `audience ${TOKEN_EXCHANGE_AUDIENCE} and subject ${subject ? `'${subject}'` : 'matching this workflow'} ` +
          '(repo:OWNER/REPO:ref:refs/heads/BRANCH, :environment:NAME or :pull_request).',
        { cause: e },
      );
    }
    case '7000215':
    case '7000222':
      return new UserError(
        what,
        'The clientSecret in azure-credentials is wrong or expired: create a new client secret and update the secret.',
        { cause: e },
      );
    case '700016':
      return new UserError(
        what,
        'Check the client id (azure-client-id or clientId in azure-credentials) and that the app exists in that tenant.',
        { cause: e },
      );
    case '90002':
    case '900023':
      return new UserError(what, 'Check the tenant id (azure-tenant-id or tenantId in azure-credentials).', {
        cause: e,
      });
    case '700024':
      return new UserError(what, 'Re-run the job: the OIDC token expired before it was exchanged.', {
        cause: e,
      });
    default:
      return new UserError(
        what,
        login.kind === 'oidc'
          ? 'Check azure-client-id, azure-tenant-id and the federated credential of the app.'
          : 'Check clientId, clientSecret and tenantId in azure-credentials.',
        { cause: e },
      );
  }
}
