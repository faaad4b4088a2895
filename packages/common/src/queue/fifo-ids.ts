import { createHash } from 'node:crypto';

/** SQS caps a MessageDeduplicationId at 128 characters. */
export const MESSAGE_DEDUPLICATION_ID_MAX_LENGTH = 128;

/** What SQS accepts in a deduplication or group id: printable ASCII without space. */
const SQS_ID_CHARACTERS = /^[\x21-\x7e]+$/;

/**
 * A FIFO deduplication id for `text` (an event id, say): the text itself when
 * SQS accepts it (1 to 128 printable ASCII characters), else `sha256-<hex>` of
 * it, so that the same text always gives the same id.
 */
export function deduplicationIdOf(text: string): string {
  if (text.length <= MESSAGE_DEDUPLICATION_ID_MAX_LENGTH && SQS_ID_CHARACTERS.test(text)) return text;
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}
