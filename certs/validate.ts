import { isIP } from 'node:net';
import { PkiError } from './errors.js';

/** Organisation and subject names: short enough for a DNS label and for X.520's 64-character CN. */
export const NAME_CHARS_MAX = 63;
/** SAN entries per certificate: a node has a handful of aliases, not hundreds. */
export const SAN_ENTRIES_MAX = 64;
/** RFC 1035 limit on a full domain name. */
export const DNS_NAME_CHARS_MAX = 253;
/** Thirty years: long enough for any CA, short enough that the date arithmetic stays sane. */
export const VALIDITY_DAYS_MAX = 30 * 365;
export const MS_PER_DAY = 24 * 60 * 60 * 1000;

// Letters, digits, '.', '_' and '-', starting and ending alphanumeric: safe in a DN, a file name
// and (lower-cased) a Kubernetes object name, and free of the characters DN escaping trips on.
const NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function checkName(value: string, field: string): string {
  if (value.length > NAME_CHARS_MAX || !NAME_PATTERN.test(value)) {
    throw new PkiError(
      'PKI_BAD_INPUT',
      `${field} ${JSON.stringify(value.slice(0, NAME_CHARS_MAX + 1))} must be 1-${NAME_CHARS_MAX} letters, digits, '.', '_' or '-', starting and ending with a letter or digit`,
    );
  }
  return value;
}

export function checkDnsName(value: string): string {
  const labels = value.split('.');
  if (value.length > DNS_NAME_CHARS_MAX || !labels.every((label) => DNS_LABEL.test(label))) {
    throw new PkiError(
      'PKI_BAD_INPUT',
      `${JSON.stringify(value.slice(0, DNS_NAME_CHARS_MAX + 1))} is not a DNS name`,
    );
  }
  return value;
}

export function checkIpAddress(value: string): string {
  if (isIP(value) === 0) {
    throw new PkiError(
      'PKI_BAD_INPUT',
      `${JSON.stringify(value.slice(0, 64))} is not an IPv4 or IPv6 address`,
    );
  }
  return value;
}

export function checkSans(dnsNames: readonly string[], ipAddresses: readonly string[]): void {
  if (dnsNames.length + ipAddresses.length > SAN_ENTRIES_MAX) {
    throw new PkiError('PKI_BAD_INPUT', `at most ${SAN_ENTRIES_MAX} DNS names and IP addresses may be given`);
  }
  dnsNames.forEach(checkDnsName);
  ipAddresses.forEach(checkIpAddress);
}

export function checkValidityDays(days: number): number {
  if (!Number.isFinite(days) || days <= 0 || days > VALIDITY_DAYS_MAX) {
    throw new PkiError(
      'PKI_BAD_INPUT',
      `validityDays must be more than 0 and at most ${VALIDITY_DAYS_MAX}, got ${days}`,
    );
  }
  return days;
}

export function checkDate(value: Date, field: string): Date {
  if (Number.isNaN(value.getTime())) {
    throw new PkiError('PKI_BAD_INPUT', `${field} is not a valid date`);
  }
  return value;
}
