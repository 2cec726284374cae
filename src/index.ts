// The action's entry point (runs.main: dist/index.js). The pipeline lands with the action issue.
import * as core from '@actions/core';

core.setFailed('package-onnx-model: the packaging pipeline is not implemented yet.');
