export const id = 730;
export const ids = [730];
export const modules = {

/***/ 1730:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   BUNDLED_PACKAGES_FILE: () => (/* binding */ BUNDLED_PACKAGES_FILE),
/* harmony export */   hashFiles: () => (/* binding */ hashFiles),
/* harmony export */   inspectGraph: () => (/* binding */ inspectGraph),
/* harmony export */   readModelConfig: () => (/* binding */ readModelConfig),
/* harmony export */   runtimeFacts: () => (/* binding */ runtimeFacts),
/* harmony export */   serverFacts: () => (/* binding */ serverFacts)
/* harmony export */ });
/* harmony import */ var node_module__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8995);
/* harmony import */ var node_module__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_module__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(3916);
/* harmony import */ var _image_blobs_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(8185);
/* harmony import */ var _runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(9325);
/**
 * Reads the facts a BOM states from what the build used: the model's graph (an onnxruntime-node
 * session of the host's staged runtime: the same library the server loads) and config.json, the
 * server bundle and the package list the bundler wrote next to it, and the onnxruntime-node native
 * files of every platform, each hashed (as the runtime's layer was verified, or from its directory).
 */






/** Written by scripts/bundle.mjs next to the server bundle: the npm packages compiled into it. */
const BUNDLED_PACKAGES_FILE = 'bundled-packages.json';
async function readJson(path) {
    return JSON.parse(await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.readFile)(path, 'utf8'));
}
const str = (v) => (typeof v === 'string' && v !== '' ? v : undefined);
/** sha256 and size of `files` (relative, '/'-separated) under `root`. */
async function hashFiles(root, files) {
    const out = [];
    for (const path of files) {
        const { digest, size } = await (0,_image_blobs_js__WEBPACK_IMPORTED_MODULE_4__/* .fileDigest */ .hd)((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(root, ...path.split('/')));
        out.push({ path, size, sha256: digest.slice('sha256:'.length) });
    }
    return out;
}
function packageFact(pkg, integrity) {
    const license = str(pkg['license']);
    return {
        name: String(pkg['name']),
        version: String(pkg['version']),
        ...(license && { license }),
        ...(integrity && { integrity }),
    };
}
/** The server bundle (`server-template/dist`): its package.json identity, files and bundled packages. */
async function serverFacts(serverDir) {
    const templateDir = (0,node_path__WEBPACK_IMPORTED_MODULE_2__.dirname)(serverDir);
    const pkg = await readJson((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(templateDir, 'package.json'));
    let packages;
    try {
        packages = (await readJson((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(serverDir, BUNDLED_PACKAGES_FILE)));
        if (!Array.isArray(packages))
            throw new Error('not a list');
    }
    catch (e) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(`The server bundle ${serverDir} has no readable ${BUNDLED_PACKAGES_FILE} (${e.message}), so the SBOM cannot list its npm packages.`, 'Rebuild the bundles with `npm run bundle`, or set sbom: false.');
    }
    const files = await hashFiles(serverDir, await (0,_runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .stagedFiles */ .KB)(serverDir));
    return { ...packageFact(pkg, undefined), files, packages };
}
/**
 * onnxruntime-node and -common (their package.json from `packagesDir`, a runtime of the same pinned
 * versions) and each platform's native files, hashed.
 */
async function runtimeFacts(runtimes, packagesDir, repoRoot) {
    const ortPkg = await readJson((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(packagesDir, 'node_modules', _runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT */ .Ed, 'package.json'));
    const commonPkg = await readJson((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(packagesDir, 'node_modules', _runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT_COMMON */ .sl, 'package.json'));
    const ort = packageFact(ortPkg, await (0,_runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .lockIntegrity */ .$n)(repoRoot, _runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT */ .Ed, String(ortPkg['version'])));
    const common = packageFact(commonPkg, await (0,_runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .lockIntegrity */ .$n)(repoRoot, _runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT_COMMON */ .sl, String(commonPkg['version'])));
    const platforms = [];
    for (const [platform, tree] of Object.entries(runtimes).sort(([a], [b]) => (a < b ? -1 : 1))) {
        platforms.push({ platform, files: await nativeFiles(tree) });
    }
    if (platforms.length === 0)
        throw new Error('no staged runtime to describe');
    return { ort, common, platforms };
}
/** onnxruntime-node's `bin/` files of a runtime, sorted by path. */
async function nativeFiles(tree) {
    const ortRoot = `node_modules/${_runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT */ .Ed}/`;
    if ('files' in tree) {
        return Object.entries(tree.files)
            .filter(([path]) => path.startsWith(`${ortRoot}bin/`))
            .map(([path, f]) => ({
            path: path.slice(ortRoot.length),
            size: f.size,
            sha256: f.sha256.slice('sha256:'.length),
        }))
            .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    }
    const ortDir = (0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(tree.dir, 'node_modules', _runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT */ .Ed);
    return hashFiles(ortDir, (await (0,_runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .stagedFiles */ .KB)(ortDir)).filter((f) => f.startsWith('bin/')));
}
/** The graph's inputs and outputs from an onnxruntime session of the staged runtime in `runtimeDir`. */
async function inspectGraph(runtimeDir, onnxPath) {
    process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
    const ort = (0,node_module__WEBPACK_IMPORTED_MODULE_0__.createRequire)((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(runtimeDir, 'index.js'))(_runtime_stage_js__WEBPACK_IMPORTED_MODULE_5__/* .ORT */ .Ed);
    let session;
    try {
        session = await ort.InferenceSession.create(onnxPath, { graphOptimizationLevel: 'disabled' });
    }
    catch (e) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(`onnxruntime cannot load ${onnxPath} to describe it in the SBOM: ${e.message.split('\n')[0]}`, 'Package a valid ONNX model (the smoke test loads it the same way).');
    }
    try {
        const specs = (meta) => meta.map((m) => m.isTensor
            ? {
                name: m.name,
                type: String(m.type),
                shape: m.shape.map((d) => (typeof d === 'number' && d < 0 ? '?' : d)),
            }
            : { name: m.name, type: 'non-tensor', shape: [] });
        return { inputs: specs(session.inputMetadata), outputs: specs(session.outputMetadata) };
    }
    finally {
        await session.release();
    }
}
/** config.json's class labels (id2label by index) and architecture, when the model folder has one. */
async function readModelConfig(modelDir) {
    let config;
    try {
        config = await readJson((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(modelDir, 'config.json'));
    }
    catch {
        return { labels: [] };
    }
    const id2label = config['id2label'];
    const labels = [];
    if (id2label && typeof id2label === 'object') {
        const entries = Object.entries(id2label);
        for (const [k, v] of entries)
            if (/^\d+$/.test(k))
                labels[Number(k)] = String(v);
    }
    const architectures = config['architectures'];
    const architecture = Array.isArray(architectures) ? str(architectures[0]) : undefined;
    const modelType = str(config['model_type']);
    return {
        labels: Array.from(labels, (l, i) => l ?? `LABEL_${i}`),
        ...(modelType && { modelType }),
        ...(architecture && { architecture }),
    };
}


/***/ })

};
