package dev.ignition.snapshot;

/**
 * The outcome of writing a layer.
 *
 * @param name the snapshot name now pointing at the layer
 * @param layer the layer
 * @param pagesStored pages written into the layer's image
 * @param deduplicated true when an identical layer already existed and was reused
 * @param timings where the time went
 */
public record WriteResult(String name, LayerInfo layer, long pagesStored, boolean deduplicated, WriteTimings timings) {}
