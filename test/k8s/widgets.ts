/**
 * `widgets.islet.test`: a namespaced custom resource (v1, served and stored) without printer
 * columns, so the API server prints its default columns; tests and scripts/table-columns.ts create
 * it on the real control plane with the v1 schema they need.
 */
export function widgetsCrd(openAPIV3Schema: Record<string, unknown>) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.islet.test' },
    spec: {
      group: 'islet.test',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema } }],
    },
  };
}
