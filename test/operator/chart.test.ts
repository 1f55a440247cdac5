import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { BINARIES_BUILD_TIMEOUT_MS, testBinaries } from './support/control-plane.js';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../..');
const CHART = join(REPO, 'charts/chainnode-operator');
let helm: string;

const template = async (...args: string[]): Promise<any[]> => {
  const { stdout } = await run(helm, ['template', 'op', CHART, '--namespace', 'ops', ...args]);
  return YAML.parseAllDocuments(stdout)
    .map((d) => d.toJSON())
    .filter((d) => d !== null);
};

beforeAll(async () => {
  helm = join(await testBinaries(), 'helm');
}, BINARIES_BUILD_TIMEOUT_MS);

describe('the chainnode-operator Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const { stdout } = await run(helm, ['lint', '--strict', CHART]);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('ships the same CRD as crds/', async () => {
    const name = 'ledgernetworks.ledger.chainnode.dev.yaml';
    expect(await readFile(join(CHART, 'crds', name), 'utf8')).toBe(
      await readFile(join(REPO, 'crds', name), 'utf8'),
    );
  });

  it('renders a 2-replica Deployment with leader election and cluster-wide least-privilege RBAC by default', async () => {
    const docs = await template();
    expect(docs.map((d) => d.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'Role',
      'RoleBinding',
      'ServiceAccount',
    ]);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.command).toEqual(['node', 'dist/operator/main.js']);
    expect(container.env.find((e: any) => e.name === 'LEADER_ELECTION_ID').value).toBe('chainnode-operator');
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    const rules = docs.find((d) => d.kind === 'ClusterRole').rules;
    const verbs = (group: string, resource: string) =>
      rules
        .filter((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource))
        .flatMap((r: any) => r.verbs);
    // delete: one pod at a time is restarted with its renewed certificate.
    expect(verbs('', 'pods').sort()).toEqual(['delete', 'get', 'list', 'watch']);
    expect(verbs('ledger.chainnode.dev', 'ledgernetworks/finalizers')).toEqual(['update']);
    expect(verbs('', 'secrets')).toContain('create');
    expect(rules.flatMap((r: any) => r.verbs)).not.toContain('*');
    expect(rules.flatMap((r: any) => r.resources)).not.toContain('leases'); // only in the namespaced Role
    const leaseRole = docs.find((d) => d.kind === 'Role');
    expect(leaseRole.metadata.namespace).toBe('ops');
    expect(leaseRole.rules.find((r: any) => r.resourceNames !== undefined).resourceNames).toEqual([
      'chainnode-operator',
    ]);
  });

  it('renders Roles only in the watched namespaces when watchNamespaces is set', async () => {
    const docs = await template('--set', 'watchNamespaces={team-a,team-b}', '--set', 'image.tag=1.2.3');
    expect(docs.filter((d) => d.kind.startsWith('Cluster'))).toEqual([]);
    const roles = docs.filter((d) => d.kind === 'Role' && !d.metadata.name.endsWith('leader-election'));
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe('chainnode/chainnode:1.2.3');
    expect(container.env.find((e: any) => e.name === 'WATCH_NAMESPACES').value).toBe('team-a,team-b');
  });

  it('ships a sample LedgerNetwork the CRD schema describes', async () => {
    const sample = YAML.parse(await readFile(join(CHART, 'samples/ledgernetwork.yaml'), 'utf8'));
    expect(sample).toMatchObject({
      apiVersion: 'ledger.chainnode.dev/v1alpha1',
      kind: 'LedgerNetwork',
      metadata: { name: 'sample' },
    });
    expect(sample.spec.orderers.count).toBe(4);
  });
});
