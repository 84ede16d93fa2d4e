# Every third-party library comes from Debian 12 packages installed by tools/setup.sh.
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(OpenMP REQUIRED)
find_package(PkgConfig REQUIRED)
# OpenBLAS built on OpenMP, not on its own pthread pool: our kernels parallelize with OpenMP too, and the
# pthread build's spinning workers oversubscribe the cores (a 64-token DiT forward took 650 ms instead of
# 12 ms on 2 cores). Linked by path with an RPATH, so Debian's alternatives choice does not matter.
find_library(OPENBLAS_OPENMP_LIBRARY openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp
             NO_DEFAULT_PATH REQUIRED)
add_library(PkgConfig::OPENBLAS UNKNOWN IMPORTED)
set_target_properties(PkgConfig::OPENBLAS PROPERTIES
  IMPORTED_LOCATION ${OPENBLAS_OPENMP_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES /usr/include/x86_64-linux-gnu/openblas-openmp)
# Debian's dnnl-config.cmake demands OpenCL (its GPU runtime); reel only uses the CPU sgemm entry point,
# so link the library directly.
find_library(DNNL_LIBRARY NAMES dnnl REQUIRED)
find_path(DNNL_INCLUDE_DIR dnnl.h REQUIRED)
add_library(DNNL::dnnl UNKNOWN IMPORTED)
set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION ${DNNL_LIBRARY}
                      INTERFACE_INCLUDE_DIRECTORIES ${DNNL_INCLUDE_DIR})
find_package(nlohmann_json CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavcodec libavformat libavutil libswscale)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
# The /metrics + /healthz HTTP server (event-driven: a slow client cannot hold the probe).
pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd)
# Gemma's tokenizer.model (libsentencepiece) and Unicode lower-casing of prompts as Python does (ICU).
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(ICU_UC REQUIRED IMPORTED_TARGET icu-uc)
# Checking TLS certificate/key files before gRPC gets them (it reports only "cannot listen").
find_package(OpenSSL REQUIRED)
find_package(Gloo CONFIG REQUIRED)  # libgloo-dev: the CPU worker-group backend
if(REEL_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(REEL_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()
