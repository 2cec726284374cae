export const id = 923;
export const ids = [923];
export const modules = {

/***/ 7923:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   STORAGE_SCOPE: () => (/* binding */ STORAGE_SCOPE),
/* harmony export */   TOKEN_EXCHANGE_AUDIENCE: () => (/* binding */ TOKEN_EXCHANGE_AUDIENCE),
/* harmony export */   armScope: () => (/* binding */ armScope),
/* harmony export */   createCredential: () => (/* binding */ createCredential),
/* harmony export */   explainTokenError: () => (/* binding */ explainTokenError),
/* harmony export */   getAccessToken: () => (/* binding */ getAccessToken)
/* harmony export */ });
/* harmony import */ var _azure_identity__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3952);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3916);
/**
 * Entra ID credentials: OIDC (GitHub's ID token exchanged through a federated credential) or a client
 * secret, built with @azure/identity. Every token received is masked, and token failures become one
 * UserError that names the missing piece (federated credential subject, wrong secret, tenant ...).
 */


const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
const OIDC_PERMISSION_FIX = 'give the job `permissions: id-token: write` (and `contents: read`), or use azure-credentials instead of OIDC.';
/** The scope of an ARM endpoint: `{arm}/.default`. */
function armScope(resourceManagerEndpoint) {
    return `${resourceManagerEndpoint.replace(/\/+$/, '')}/.default`;
}
/**
 * Creates the credential for the resolved login. The returned credential masks every token it hands
 * out and throws UserErrors with the fix.
 */
function createCredential(azure, opts) {
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
    let assertionFailure;
    const inner = login.kind === 'secret'
        ? new _azure_identity__WEBPACK_IMPORTED_MODULE_0__/* .ClientSecretCredential */ .HC(login.tenantId, login.clientId, login.clientSecret, common)
        : new _azure_identity__WEBPACK_IMPORTED_MODULE_0__/* .ClientAssertionCredential */ .XI(login.tenantId, login.clientId, async () => {
            if (!opts.getIdToken) {
                assertionFailure = new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y('OIDC login needs a GitHub OIDC token, and none can be requested here (not running in GitHub Actions).', 'Run inside GitHub Actions with `permissions: id-token: write`, or set azure-credentials ' +
                    '(the CLI reads AZURE_CREDENTIALS, or AZURE_CLIENT_SECRET with AZURE_CLIENT_ID and AZURE_TENANT_ID).');
                throw assertionFailure;
            }
            try {
                const token = await opts.getIdToken(TOKEN_EXCHANGE_AUDIENCE);
                opts.logger.secret(token);
                return token;
            }
            catch (e) {
                const detail = e instanceof Error ? e.message : String(e);
                assertionFailure = new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(/ACTIONS_ID_TOKEN_REQUEST/.test(detail)
                    ? 'Could not get a GitHub OIDC token: the job has no permission to request one.'
                    : `Could not get a GitHub OIDC token: ${detail}`, OIDC_PERMISSION_FIX, { cause: e });
                throw assertionFailure;
            }
        }, common);
    return {
        async getToken(scopes, options) {
            let token;
            try {
                token = await inner.getToken(scopes, options);
            }
            catch (e) {
                if (assertionFailure)
                    throw assertionFailure;
                throw explainTokenError(e, azure, Array.isArray(scopes) ? scopes.join(' ') : scopes);
            }
            if (token)
                opts.logger.secret(token.token);
            return token;
        },
    };
}
/** Gets a token string for one scope (the ARM client's bearer). */
async function getAccessToken(credential, scope) {
    const token = await credential.getToken(scope);
    if (!token) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(`Entra ID returned no token for ${scope}.`, 'Check the Azure login inputs.');
    }
    return token.token;
}
/** Turns an @azure/identity failure into one line with the fix, by its AADSTS code. */
function explainTokenError(e, azure, scope) {
    if (e instanceof _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y)
        return e;
    const message = e instanceof Error ? e.message : String(e);
    const aadsts = /AADSTS(\d+): ([^.]*\.)/.exec(message);
    const code = aadsts?.[1];
    const summary = aadsts ? `AADSTS${code}: ${aadsts[2]}` : message.split('\n')[0].slice(0, 300);
    const { login } = azure;
    const what = `Entra ID refused a token for ${scope} (client ${login.clientId}, tenant ${login.tenantId}): ${summary}`;
    switch (code) {
        case '70021':
        case '700213':
        case '700212': {
            const subject = /Assertion Subject: '([^']*)'/.exec(message)?.[1];
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(what, `Add a federated credential to app ${login.clientId} with issuer https://token.actions.githubusercontent.com, ` +
                `audience ${TOKEN_EXCHANGE_AUDIENCE} and subject ${subject ? `'${subject}'` : 'matching this workflow'} ` +
                '(repo:OWNER/REPO:ref:refs/heads/BRANCH, :environment:NAME or :pull_request).', { cause: e });
        }
        case '7000215':
        case '7000222':
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(what, 'The clientSecret in azure-credentials is wrong or expired: create a new client secret and update the secret.', { cause: e });
        case '700016':
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(what, 'Check the client id (azure-client-id or clientId in azure-credentials) and that the app exists in that tenant.', { cause: e });
        case '90002':
        case '900023':
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(what, 'Check the tenant id (azure-tenant-id or tenantId in azure-credentials).', {
                cause: e,
            });
        case '700024':
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(what, 'Re-run the job: the OIDC token expired before it was exchanged.', {
                cause: e,
            });
        default:
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .UserError */ .y(what, login.kind === 'oidc'
                ? 'Check azure-client-id, azure-tenant-id and the federated credential of the app.'
                : 'Check clientId, clientSecret and tenantId in azure-credentials.', { cause: e });
    }
}


/***/ })

};
