#include "memory_plugin.hpp"

CALIB_CPP_PLUGIN(calib::memory::MemoryPlugin, "org.calib.memory", "STREAM memory bandwidth", "0.1.0", "calib",
                 "STREAM copy/scale/add/triad over a cache-to-DRAM working-set sweep, plus large copies")
