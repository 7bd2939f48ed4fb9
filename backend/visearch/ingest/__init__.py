"""Getting images in: decode with limits, ids, stored files and thumbnails, scan, safe fetch."""
