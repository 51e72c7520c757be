// Run before every test file: whatever a file started through helpers/processes.ts and did not stop
// (a test that failed before its own clean-up, such as an agent that never became ready) is killed
// when the file ends, instead of serving on after the run.
import { afterAll } from 'vitest';
import { killAll } from './processes.js';

afterAll(killAll);
