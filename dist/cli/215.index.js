export const id = 215;
export const ids = [215,730];
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


/***/ }),

/***/ 1215:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  BOM_MEDIA_TYPE: () => (/* reexport */ BOM_MEDIA_TYPE),
  createSbom: () => (/* binding */ createSbom),
  sbomPath: () => (/* binding */ sbomPath)
});

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./src/image/referrers.ts
var referrers = __webpack_require__(3737);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: ./node_modules/@cyclonedx/cyclonedx-library/dist.node/enums/index.js
var enums = __webpack_require__(6820);
// EXTERNAL MODULE: ./node_modules/@cyclonedx/cyclonedx-library/dist.node/contrib/license/index.node.js
var index_node = __webpack_require__(4909);
// EXTERNAL MODULE: ./node_modules/@cyclonedx/cyclonedx-library/dist.node/models/index.js
var models = __webpack_require__(320);
// EXTERNAL MODULE: ./node_modules/@cyclonedx/cyclonedx-library/dist.node/serialize/index.node.js
var serialize_index_node = __webpack_require__(1248);
// EXTERNAL MODULE: ./node_modules/@cyclonedx/cyclonedx-library/dist.node/spec/index.js
var spec = __webpack_require__(4321);
// EXTERNAL MODULE: ./node_modules/packageurl-js/index.js
var packageurl_js = __webpack_require__(7091);
// EXTERNAL MODULE: ./node_modules/spdx-expression-parse/index.js
var spdx_expression_parse = __webpack_require__(3326);
var spdx_expression_parse_default = /*#__PURE__*/__webpack_require__.n(spdx_expression_parse);
;// CONCATENATED MODULE: ./src/sbom/model-card.ts
/** `name: type[d0,d1]`, e.g. `input_ids: int64[batch,sequence]`. */
function tensorFormat(t) {
    return `${t.name}: ${t.type}[${t.shape.join(',')}]`;
}
/**
 * The task as the server serves it: a model with a tokenizer is a text classifier (/predict); a
 * tensor model with class labels a classifier; any other tensor model answers raw tensors.
 */
function modelTask(m) {
    if (m.textModel)
        return 'text-classification';
    return m.labels.length > 0 ? 'classification' : 'tensor-inference';
}
function modelCard(m) {
    const properties = m.labels.map((label, i) => ({
        name: `package-onnx-model:class-label:${i}`,
        value: label,
    }));
    return {
        'bom-ref': 'model:card',
        modelParameters: {
            task: modelTask(m),
            ...(m.modelType && { architectureFamily: m.modelType }),
            ...(m.architecture && { modelArchitecture: m.architecture }),
            inputs: m.inputs.map((t) => ({ format: tensorFormat(t) })),
            outputs: m.outputs.map((t) => ({ format: tensorFormat(t) })),
        },
        ...(properties.length > 0 && { properties }),
    };
}

;// CONCATENATED MODULE: ./src/sbom/bom.ts
/**
 * The build's CycloneDX 1.6 BOM, made with the CycloneDX project's own library. Pure: the same facts
 * always give the same bytes (lists sorted by the library, timestamp = the image's `created`, serial
 * number a UUIDv5 of the image digest and the BOM's content).
 *
 *   metadata.component   the image (container, pkg:oci purl, its digest)
 *   components           the model (machine-learning-model, every file hashed, source, model card),
 *                        the inference server (with the npm packages compiled into its bundle nested),
 *                        onnxruntime-node (its native files per platform nested) and onnxruntime-common,
 *                        the base image (container, by digest)
 *   dependencies         image -> model, server, base; server -> its packages, onnxruntime-node -> common
 */

// Subpath imports: the package root also loads the validators, whose schema lookup needs __dirname,
// which the ESM action bundle does not have (validation runs in the tests).








const BOM_MEDIA_TYPE = 'application/vnd.cyclonedx+json';
/** Namespace of this tool's CycloneDX property names. */
const PROP = 'package-onnx-model';
const SHA256 = enums.HashAlgorithm['SHA-256'];
const SHA512 = enums.HashAlgorithm['SHA-512'];
const licenses = new index_node.Factories.LicenseFactory((expr) => {
    spdx_expression_parse_default()(expr);
});
const hex = (digest) => digest.replace(/^sha256:/, '');
function prop(name, value) {
    return new models.Property(`${PROP}:${name}`, value);
}
/** `pkg:oci/<last segment>@<digest>?repository_url=<registry/repository>` (the purl spec's oci type). */
function ociPurl(name, digest) {
    const last = name.split('/').pop() ?? name;
    return new packageurl_js.PackageURL('oci', undefined, last.toLowerCase(), digest, {
        repository_url: name.toLowerCase(),
    }).toString();
}
function npmPurl(p) {
    const [scope, name] = p.name.startsWith('@') ? p.name.split('/') : [undefined, p.name];
    return new packageurl_js.PackageURL('npm', scope, name ?? p.name, p.version, undefined).toString();
}
function fileComponent(f, ref) {
    const c = new models.Component(enums.ComponentType.File, f.path, { bomRef: ref });
    c.hashes.set(SHA256, f.sha256);
    c.properties.add(prop('size', String(f.size)));
    return c;
}
function npmComponent(p) {
    const purl = npmPurl(p);
    const c = new models.Component(enums.ComponentType.Library, p.name, {
        bomRef: purl,
        version: p.version,
        purl,
    });
    if (p.license)
        c.licenses.add(licenses.makeFromString(p.license));
    const sri = /^sha512-([A-Za-z0-9+/=]+)$/.exec(p.integrity ?? '');
    if (sri?.[1])
        c.hashes.set(SHA512, Buffer.from(sri[1], 'base64').toString('hex'));
    return c;
}
/** An external reference for a source that is a URL (azureml://, https://); local paths are none. */
function sourceReference(source, comment) {
    if (!/^(https?|azureml):\/\//i.test(source))
        return undefined;
    return new models.ExternalReference(source, enums.ExternalReferenceType.Distribution, { comment });
}
/** RFC 9562 UUIDv5 (SHA-1, name-based): node:crypto only makes random (v4) UUIDs. */
function uuidV5(name, namespace) {
    const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
    const h = (0,external_node_crypto_.createHash)('sha1').update(ns).update(name).digest().subarray(0, 16);
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    const s = h.toString('hex');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}
/** RFC 9562's URL namespace: serial numbers are v5 UUIDs of the image's pkg:oci purl and content. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
function buildModel(f) {
    const m = f.model;
    const c = new models.Component(enums.ComponentType.MachineLearningModel, m.name, {
        bomRef: 'model',
        version: m.version,
        description: `ONNX model served from /app/model (${m.modelFile})`,
    });
    const ref = sourceReference(m.source, 'Where the model was downloaded from');
    if (ref)
        c.externalReferences.add(ref);
    c.properties.add(prop('model:source', m.source));
    c.properties.add(prop('model:sha256', m.sha256));
    c.properties.add(prop('model:file', m.modelFile));
    if (m.original) {
        // The shipped files are the original's graph with its weights moved to an external data file.
        c.properties.add(prop('model:original:sha256', m.original.sha256));
        for (const f of m.original.files)
            c.properties.add(prop(`model:original:file:${f.path}`, f.sha256));
    }
    for (const file of m.files)
        c.components.add(fileComponent(file, `model:file:${file.path}`));
    if (m.tokenizer) {
        const t = m.tokenizer;
        const tok = new models.Component(enums.ComponentType.Data, 'tokenizer', {
            bomRef: 'model:tokenizer',
            ...(t.revision && { version: t.revision }),
        });
        const tref = sourceReference(t.source, 'Where the tokenizer was fetched from');
        if (tref)
            tok.externalReferences.add(tref);
        tok.properties.add(prop('tokenizer:source', t.source));
        if (t.revision)
            tok.properties.add(prop('tokenizer:revision', t.revision));
        for (const file of t.files)
            tok.components.add(fileComponent(file, `model:tokenizer:file:${file.path}`));
        c.components.add(tok);
    }
    return c;
}
function buildServer(f) {
    const s = f.server;
    // A private package of this repository: no purl (it is not on npm).
    const c = new models.Component(enums.ComponentType.Application, s.name, {
        bomRef: 'server',
        version: s.version,
        description: 'Inference server bundle in /app/server (the npm packages compiled into it are nested)',
    });
    if (s.license)
        c.licenses.add(licenses.makeFromString(s.license));
    for (const file of s.files)
        c.components.add(fileComponent(file, `server:file:${file.path}`));
    for (const p of s.packages)
        c.components.add(npmComponent(p));
    return c;
}
function buildRuntime(f) {
    const ort = npmComponent(f.runtime.ort);
    const common = npmComponent(f.runtime.common);
    for (const { platform, files } of f.runtime.platforms) {
        for (const file of files) {
            const lib = fileComponent(file, `${ort.bomRef.value ?? ''}:${platform}:${file.path}`);
            lib.properties.add(prop('platform', platform));
            ort.components.add(lib);
        }
    }
    ort.dependencies.add(common.bomRef);
    return [ort, common];
}
/** An image by digest; a local `oci-layout:`/`oci-archive:` one has no registry location for a purl. */
function containerComponent(ref, name, digest, description) {
    const c = new models.Component(enums.ComponentType.Container, name, {
        bomRef: ref,
        version: digest,
        ...(!/^oci-(layout|archive):/.test(name) && { purl: ociPurl(name, digest) }),
        description,
    });
    c.hashes.set(SHA256, hex(digest));
    return c;
}
function buildImage(f) {
    const i = f.image;
    const c = containerComponent('image', i.name, i.digest, `Inference image for ${f.model.name} ${f.model.version}`);
    c.properties.add(prop('image:media-type', i.mediaType));
    for (const t of i.tags)
        c.properties.add(prop('image:tag', t));
    for (const [p, d] of Object.entries(i.platformDigests))
        c.properties.add(prop(`image:platform:${p}`, d));
    return c;
}
/**
 * The BOM as JSON text (2-space indented, newline-terminated). The library has no model card model
 * yet, so the card is added to the model component of the library's normalized output.
 */
function buildBom(f) {
    const image = buildImage(f);
    const model = buildModel(f);
    const server = buildServer(f);
    const [ort, common] = buildRuntime(f);
    const base = containerComponent('base-image', f.image.base.name, f.image.base.digest, 'Base image');
    const tool = new models.Component(enums.ComponentType.Application, f.tool.name, {
        bomRef: 'tool',
        version: f.tool.version,
    });
    const bom = new models.Bom({
        metadata: new models.Metadata({
            timestamp: new Date(f.image.created),
            component: image,
            tools: new models.Tools({ components: new models.ComponentRepository([tool]) }),
        }),
        components: new models.ComponentRepository([model, server, ort, common, base]),
    });
    image.dependencies.add(model.bomRef);
    image.dependencies.add(server.bomRef);
    image.dependencies.add(base.bomRef);
    server.dependencies.add(ort.bomRef);
    for (const p of server.components)
        server.dependencies.add(p.bomRef);
    const normalized = new serialize_index_node.JSON.Normalize.Factory(spec.Spec1dot6)
        .makeForBom()
        .normalize(bom, { sortLists: true });
    const components = normalized['components'];
    const modelJson = components.find((c) => c['bom-ref'] === 'model');
    if (modelJson)
        modelJson['modelCard'] = modelCard(f.model);
    // Deterministic and unique per content: the serial is derived from everything else in the BOM.
    const body = JSON.stringify(normalized);
    normalized['serialNumber'] =
        `urn:uuid:${uuidV5(`${ociPurl(f.image.name, f.image.digest)}\n${body}`, URL_NAMESPACE)}`;
    const ordered = {
        $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
        bomFormat: 'CycloneDX',
        specVersion: '1.6',
        serialNumber: normalized['serialNumber'],
        version: 1,
        ...normalized,
    };
    return `${JSON.stringify(ordered, null, 2)}\n`;
}

// EXTERNAL MODULE: ./src/sbom/gather.ts
var gather = __webpack_require__(1730);
;// CONCATENATED MODULE: ./src/sbom/index.ts
/**
 * The build's software and model bill of materials: gathers the facts (src/sbom/gather.ts), writes
 * the CycloneDX 1.6 JSON (src/sbom/bom.ts) and prepares the OCI artifact that attaches it to the
 * image as a referrer (src/image/referrers.ts), so the same bytes go to the file, the archive and
 * the registry.
 */







/** Where the BOM file goes: RUNNER_TEMP (kept for later steps of the job, e.g. attest-sbom), else tmp. */
function sbomPath(env, imageName, digest) {
    const name = imageName.split('/').pop() ?? 'image';
    return (0,external_node_path_.join)(env.RUNNER_TEMP || (0,external_node_os_.tmpdir)(), 'package-onnx-model-sbom', `${name}-${digest.slice(7, 19)}.cdx.json`);
}
async function createSbom(req) {
    const { dir, ...model } = req.model;
    const graph = await (0,gather.inspectGraph)(req.hostRuntimeDir, (0,external_node_path_.join)(dir, model.modelFile));
    const json = buildBom({
        tool: req.tool,
        image: req.image,
        model: { ...model, ...graph, ...(await (0,gather.readModelConfig)(dir)) },
        server: await (0,gather.serverFacts)(req.serverDir),
        runtime: await (0,gather.runtimeFacts)(req.runtimes, req.hostRuntimeDir, req.repoRoot),
    });
    const bytes = Buffer.from(json);
    await (0,promises_.mkdir)((0,external_node_path_.dirname)(req.path), { recursive: true });
    await (0,promises_.writeFile)(req.path, bytes);
    const artifact = (0,referrers/* referrerArtifact */.yw)({
        subject: { mediaType: req.image.mediaType, digest: req.image.digest, size: req.image.size },
        artifactType: BOM_MEDIA_TYPE,
        content: bytes,
        title: 'sbom.cdx.json',
        created: req.image.created,
    });
    return { path: req.path, bytes, artifact };
}


/***/ })

};
