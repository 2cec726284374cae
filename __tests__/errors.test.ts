import { describe, expect, it } from '@jest/globals';
import { UserError } from '../src/errors.js';
import { parseModelReference } from '../src/model-source/index.js';

describe('UserError', () => {
  it('prints one line with the fix in one casing: "... Fix: Set ..."', () => {
    const e = new UserError("Input 'x' is empty.", "set 'x' to a value.");
    expect(e.fix).toBe("Set 'x' to a value.");
    expect(e.toString()).toBe("Input 'x' is empty. Fix: Set 'x' to a value.");
  });

  it("a source's error reads the same way", () => {
    const e = (() => {
      try {
        parseModelReference('s3://bucket/model.onnx');
      } catch (err) {
        return err as UserError;
      }
      throw new Error('accepted');
    })();
    expect(e.toString()).toMatch(/is not accepted: this URL scheme is not supported\. Fix: Use one of: /);
  });
});
