// What the exporters tell the self-metrics: outcomes of the OTLP exports. Here, beside the
// instruments that read it, so that instruments never import an exporter.

/** Export outcomes, for the self-metrics and the once-per-outage log. */
export class ExportHealth {
  successes = 0;
  failures = 0;
  failing = false;
}
