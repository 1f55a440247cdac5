import type * as X509 from '@peculiar/x509';

export type SubjectField = 'CN' | 'O' | 'OU';

/** Subject as a JSON name, so values are encoded as given instead of going through DN-string escaping. */
export function subjectName(fields: { CN: string; O: string; OU?: string }): X509.JsonName {
  const name: X509.JsonName = [{ CN: [fields.CN] }, { O: [fields.O] }];
  if (fields.OU !== undefined) name.push({ OU: [fields.OU] });
  return name;
}

/**
 * The value of `field` when the name holds it exactly once. Twice is treated like never: with two
 * OUs, say 'client' and 'admin', there is no honest answer to which role the holder has.
 */
export function singleField(name: X509.Name, field: SubjectField): string | undefined {
  const values = name.getField(field);
  return values.length === 1 ? values[0] : undefined;
}
