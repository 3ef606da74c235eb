# calib_warnings(target): the project's warning set; errors when CALIB_WARNINGS_AS_ERRORS is ON (CI).
function(calib_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter)
  if(CALIB_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
