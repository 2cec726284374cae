// The inference server baked into images. Lands with the server issue.
console.error('onnx-inference-server: not implemented yet.');
process.exitCode = 1;
