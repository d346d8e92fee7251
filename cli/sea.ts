/**
 * The standalone binary's entry (a Node single executable application, scripts/binary.js):
 * the whole CLI is in this one script, and there is no file beside it to read.
 */
import { dirname } from 'node:path';
import { main } from './main.js';

void main(process.argv.slice(2), dirname(process.execPath));
