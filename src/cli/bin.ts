#!/usr/bin/env node
import { defaultContext, main } from './main.js';

process.exitCode = await main(process.argv.slice(2), defaultContext());
