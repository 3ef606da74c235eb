# CALIB_WITH_CUDA = AUTO | ON | OFF: whether plugins/cuda is built.
#   AUTO: built when a CUDA compiler and toolkit are found, skipped cleanly otherwise.
#   ON:   required; configuration fails without them.  OFF: never looked for.
# Sets CALIB_CUDA_ENABLED for plugins/cuda/CMakeLists.txt. No GPU is needed to build.
set(CALIB_WITH_CUDA AUTO CACHE STRING "Build the CUDA plugin (AUTO, ON, OFF)")
set_property(CACHE CALIB_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${CALIB_WITH_CUDA}" _calib_cuda_mode)
set(CALIB_CUDA_ENABLED OFF)

if(_calib_cuda_mode STREQUAL "OFF")
  message(STATUS "calib: CUDA plugin disabled (CALIB_WITH_CUDA=OFF)")
elseif(_calib_cuda_mode STREQUAL "ON" OR _calib_cuda_mode STREQUAL "AUTO")
  # The usual toolkit location, when nvcc is not on PATH.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "CUDA compiler")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Hopper machine code plus PTX that newer GPUs JIT-compile.
      set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual CACHE STRING "CUDA architectures")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
  endif()
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND)
    set(CALIB_CUDA_ENABLED ON)
    message(STATUS "calib: CUDA plugin enabled (toolkit ${CUDAToolkit_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")
  elseif(_calib_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "calib: CALIB_WITH_CUDA=ON but no CUDA compiler/toolkit was found")
  else()
    message(STATUS "calib: CUDA toolkit not found; the CUDA plugin is skipped")
  endif()
else()
  message(FATAL_ERROR "calib: CALIB_WITH_CUDA must be AUTO, ON or OFF (got '${CALIB_WITH_CUDA}')")
endif()
