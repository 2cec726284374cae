#!/usr/bin/env node
// The local CLI's entry point (dist/cli/index.js); see ./command.ts.
import { main } from './command.js';

process.exitCode = await main(process.argv.slice(2));
