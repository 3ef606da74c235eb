# Install rules for the built-in plugins: into ${CALIB_INSTALL_PLUGIN_DIR} (lib/calib/plugins), the
# folder an installed calib-host searches by default (core's default_plugin_dir()). calib-host and the
# SDK install themselves (cli/, sdk/). Only plugins that exist as targets in this configuration.
foreach(_plugin calib_matmul calib_memory calib_fused_linear calib_fused_conv calib_fused_attention)
  if(TARGET ${_plugin})
    install(TARGETS ${_plugin} LIBRARY DESTINATION ${CALIB_INSTALL_PLUGIN_DIR} COMPONENT plugins)
  endif()
endforeach()
