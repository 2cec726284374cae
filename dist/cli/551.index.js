export const id = 551;
export const ids = [551];
export const modules = {

/***/ 8551:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   containerClientFor: () => (/* binding */ containerClientFor),
/* harmony export */   downloadBlobs: () => (/* binding */ downloadBlobs),
/* harmony export */   explainStorageError: () => (/* binding */ explainStorageError),
/* harmony export */   listModelBlobs: () => (/* binding */ listModelBlobs)
/* harmony export */ });
/* harmony import */ var _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8053);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(3916);
/* harmony import */ var _util_retry_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(4266);
/* harmony import */ var _util_concurrency_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(3731);
/* harmony import */ var _write_at_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(5790);







/** A ContainerClient for the access the model resolved to. SDK retries are off: withRetry does them. */
function containerClientFor(access, credential, pipelineOptions = {}) {
    const options = {
        retryOptions: { maxTries: 1 },
        ...pipelineOptions,
    };
    switch (access.auth.kind) {
        case 'key':
            return new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .ContainerClient */ .bM(access.containerUrl, new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .StorageSharedKeyCredential */ .Z3(access.auth.accountName, access.auth.accountKey), options);
        case 'sas':
            return new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .ContainerClient */ .bM(`${access.containerUrl}?${access.auth.sas}`, new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .AnonymousCredential */ .tv(), options);
        case 'identity':
            if (!credential)
                throw new Error('identity-based blob access needs a token credential');
            if (!access.containerUrl.startsWith('https://')) {
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(`Identity-based access to ${access.containerUrl} needs https.`, 'Set azure-blob-endpoint to an https:// template.');
            }
            return new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .ContainerClient */ .bM(access.containerUrl, credential, options);
    }
}
/** Explains a storage failure by status and the kind of credential in use. */
function explainStorageError(e, access, what) {
    if (e instanceof _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y)
        return e;
    if (!(e instanceof _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .RestError */ .pj) || e.statusCode === undefined) {
        // Retries spent on connection failures (or a short body): the network or the service.
        const detail = e instanceof Error ? e.message : String(e);
        return new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(`${what} failed: ${detail.split('\n')[0].slice(0, 300)}`, `Re-run the job; if it persists, check that ${access.containerUrl} is reachable from the runner.`, { cause: e });
    }
    const code = e.code ?? (e.response?.headers.get('x-ms-error-code') || 'Unknown');
    const line = `${what} failed: storage ${e.statusCode} ${code}: ${e.message.split('\n')[0].slice(0, 200)}`;
    if (e.statusCode === 403 || e.statusCode === 401) {
        const fix = access.auth.kind === 'identity'
            ? `grant the Azure login the 'Storage Blob Data Reader' role on the storage account of ${access.containerUrl} ` +
                "(identity-based datastores read with the caller's own identity)."
            : access.auth.kind === 'key'
                ? `the account key of ${access.via} was rejected: update the datastore credentials (az ml datastore update) after a key rotation.`
                : `the SAS of ${access.via} was rejected (expired or missing read/list permission): renew it.`;
        return new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(line, fix, { cause: e });
    }
    if (e.statusCode === 412) {
        return new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(line, 'The model files changed during the download: re-run the job.', { cause: e });
    }
    if (e.statusCode === 404) {
        return new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(line, `Check that the container ${access.containerUrl} exists and holds the model's files.`, {
            cause: e,
        });
    }
    return new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(line, 'Re-run the job; if it persists, check the storage account.', { cause: e });
}
/** Storage failures worth another attempt: 408/429/5xx and connection failures. */
function retryable(e) {
    if (e instanceof _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw)
        return e;
    if (e instanceof _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .RestError */ .pj) {
        if (e.statusCode !== undefined && (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .isRetryableStatus */ .PS)(e.statusCode)) {
            return new _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`storage returned ${e.statusCode} ${e.code ?? ''}`.trim(), (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .parseRetryAfter */ .mu)(e.response?.headers.get('retry-after')), { cause: e });
        }
        if (e.statusCode === undefined &&
            (e.code === 'REQUEST_SEND_ERROR' || /ECONNRESET|socket hang up/i.test(e.message))) {
            return new _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`storage connection failed: ${e.message}`, undefined, { cause: e });
        }
    }
    // A connection cut mid-body: the SDK's stream gives up with AbortError (no abort signal of ours
    // exists) or reports the short read; the next attempt resumes from the bytes on disk.
    if (e instanceof Error &&
        (e.name === 'AbortError' ||
            /^Data corruption failure: received less data/.test(e.message) ||
            /aborted|ECONNRESET|socket hang up/i.test(e.message))) {
        return new _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`connection lost mid-blob: ${e.message}`, undefined, { cause: e });
    }
    return e;
}
/** Rejects blob names that would escape the destination (.., empty or absolute segments). */
function safeRelative(name, prefix) {
    const rel = name.slice(prefix.length).replace(/^\//, '');
    const segs = rel.split('/');
    if (!rel || segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(`The blob '${name}' cannot be saved safely (its path has empty, '.', '..' or '\\' segments).`, 'Rename the blob in the model folder.');
    }
    return rel;
}
function isFolderMarker(metadata) {
    return Object.entries(metadata ?? {}).some(([k, v]) => k.toLowerCase() === 'hdi_isfolder' && v === 'true');
}
/** Lists what to download: the single blob named `prefix`, else every blob under `prefix/`. */
async function listModelBlobs(container, prefix, opts) {
    const run = (fn) => (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(() => fn().catch((e) => {
        throw retryable(e);
    }), {
        ...opts.retry,
        onRetry: (i) => opts.logger.info(`${i.reason}; retrying in ${(i.delayMs / 1000).toFixed(1)}s.`),
    });
    const single = await run(async () => {
        try {
            return await container.getBlobClient(prefix).getProperties();
        }
        catch (e) {
            if (e instanceof _azure_storage_blob__WEBPACK_IMPORTED_MODULE_0__/* .RestError */ .pj && e.statusCode === 404)
                return undefined;
            throw e;
        }
    });
    if (single && !isFolderMarker(single.metadata)) {
        const name = prefix.split('/').pop();
        return [
            {
                name: prefix,
                path: name,
                size: single.contentLength ?? 0,
                etag: single.etag,
                contentMd5: single.contentMD5,
            },
        ];
    }
    return run(async () => {
        const items = [];
        for await (const page of container
            .listBlobsFlat({ prefix: `${prefix}/`, includeMetadata: true })
            .byPage({ maxPageSize: 5000 })) {
            for (const b of page.segment.blobItems) {
                if (isFolderMarker(b.metadata))
                    continue;
                items.push({
                    name: b.name,
                    path: safeRelative(b.name, prefix),
                    size: b.properties.contentLength ?? 0,
                    etag: b.properties.etag,
                    contentMd5: b.properties.contentMD5,
                });
            }
        }
        return items;
    });
}
/**
 * Streams the rest of a range into `file` at its offset, counting progress. A connection reset ends
 * the attempt with the bytes already written kept: the next attempt asks only for the remainder.
 */
async function streamRange(blob, file, range, etag, opts, progress) {
    const start = range.offset + range.written;
    const count = range.count - range.written;
    if (count <= 0)
        return;
    let counted = 0;
    let written;
    try {
        const res = await blob.download(start, count, {
            maxRetryRequests: opts.maxResumes ?? 5,
            conditions: etag ? { ifMatch: etag } : undefined,
        });
        const body = res.readableStreamBody;
        if (!body)
            throw new Error('storage returned no body');
        written = await (0,_write_at_js__WEBPACK_IMPORTED_MODULE_5__/* .writeAt */ .H)(body, file, start, (n) => {
            counted += n;
            progress?.add(n);
        });
    }
    catch (e) {
        const kept = e instanceof _write_at_js__WEBPACK_IMPORTED_MODULE_5__/* .PartialWrite */ .Z ? e.written : 0;
        // Bytes counted but not written will be fetched again.
        progress?.add(kept - counted);
        range.written += kept;
        throw e instanceof _write_at_js__WEBPACK_IMPORTED_MODULE_5__/* .PartialWrite */ .Z ? e.cause : e;
    }
    range.written += written;
    if (written < count) {
        throw new _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw(`connection lost mid-blob: the body ended after ${written} of ${count} bytes`);
    }
}
async function downloadOne(container, item, opts, progress) {
    const target = (0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(opts.destDir, ...item.path.split('/'));
    const part = `${target}.part`;
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.mkdir)((0,node_path__WEBPACK_IMPORTED_MODULE_2__.dirname)(target), { recursive: true });
    const handle = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.open)(part, 'w');
    try {
        await handle.truncate(item.size);
    }
    finally {
        await handle.close();
    }
    const blob = container.getBlobClient(item.name);
    const rangeSize = opts.rangeSize ?? 8 * 1024 * 1024;
    const ranges = item.size >= (opts.rangeThreshold ?? 32 * 1024 * 1024)
        ? Array.from({ length: Math.ceil(item.size / rangeSize) }, (_, i) => ({
            offset: i * rangeSize,
            count: Math.min(rangeSize, item.size - i * rangeSize),
            written: 0,
        }))
        : item.size > 0
            ? [{ offset: 0, count: item.size, written: 0 }]
            : [];
    try {
        await (0,_util_concurrency_js__WEBPACK_IMPORTED_MODULE_6__/* .mapConcurrent */ ._)(ranges, opts.rangeConcurrency ?? 4, (r) => (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(() => streamRange(blob, part, r, item.etag, opts, progress).catch((e) => {
            throw retryable(e);
        }), {
            ...opts.retry,
            onRetry: (i) => opts.logger.info(`${item.path}: ${i.reason}; ${r.written > 0 ? `resuming at byte ${r.offset + r.written}` : 'retrying'} ` +
                `in ${(i.delayMs / 1000).toFixed(1)}s.`),
        }));
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rename)(part, target);
    }
    catch (e) {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(part, { force: true });
        throw e instanceof _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw && e.cause ? e.cause : e;
    }
}
/**
 * Downloads everything the prefix names into `destDir`; returns what was expected (names, sizes,
 * Content-MD5) for verification.
 */
async function downloadBlobs(container, access, opts) {
    const where = `${access.containerUrl}/${access.prefix}`;
    let items;
    try {
        items = await listModelBlobs(container, access.prefix, opts);
    }
    catch (e) {
        throw explainStorageError(e instanceof _util_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .RetryableError */ .dw && e.cause ? e.cause : e, access, `Listing ${where}`);
    }
    if (items.length === 0) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .UserError */ .y(`No files at ${where} (via ${access.via}): the model version points at an empty path.`, 'This happens with models registered from job outputs that were never uploaded: register the model again ' +
            'from its files (az ml model create --path <folder or file>) and use that version.');
    }
    const total = items.reduce((n, i) => n + i.size, 0);
    opts.logger.info(`Downloading ${items.length} file(s), ${total} bytes, from ${where} via ${access.via}.`);
    const progress = opts.progress?.(total, items.length);
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.mkdir)(opts.destDir, { recursive: true });
    try {
        await (0,_util_concurrency_js__WEBPACK_IMPORTED_MODULE_6__/* .mapConcurrent */ ._)(items, opts.fileConcurrency ?? 4, (item) => downloadOne(container, item, opts, progress));
    }
    catch (e) {
        throw explainStorageError(e, access, `Downloading ${where}`);
    }
    progress?.done();
    return items.map((i) => ({ path: i.path, size: i.size, contentMd5: i.contentMd5 }));
}


/***/ })

};
