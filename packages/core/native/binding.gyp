{
  "targets": [
    {
      "target_name": "prom_multiproc_mmap",
      "sources": ["mmap.c"],
      "cflags": ["-std=c11", "-O2", "-Wall", "-Wextra"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
