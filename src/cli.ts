// The local CLI. The packaging pipeline lands with the action issue.
console.error('package-onnx-model: the packaging pipeline is not implemented yet.');
process.exitCode = 1;
