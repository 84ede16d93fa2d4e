# Compile options for reel's own code: warnings are errors; sanitizers when asked.
# GCC 12 reports false maybe-uninitialized positives inside absl::InlinedVector moves.
# Designated initializers that leave members at their defaults are intended (RenderRequest{.prompt=...}).
set(REEL_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>
    # clang (fuzz build) reports `omp simd` loops it did not vectorize under sanitizers as errors.
    $<$<CXX_COMPILER_ID:Clang>:-Wno-pass-failed>)

if(REEL_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>)
  add_link_options(-fsanitize=address,undefined)
endif()

# The fuzz build: every library gets libFuzzer's coverage counters and comparison hooks, so the
# fuzzers steer by the parsers' branches (without this only the harness was instrumented: 60 edges).
# The libFuzzer main itself is linked into the fuzz targets only (tests/fuzz/CMakeLists.txt).
if(REEL_FUZZ)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()

# reel_library(name SOURCES ... DEPS ...): one library per layer/module with our warning set.
function(reel_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${REEL_WARNINGS}>)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
endfunction()

# reel_test(name SOURCES ... DEPS ... [LABELS ...] [FIXTURES ...]): a GoogleTest binary registered with
# ctest; FIXTURES names ctest fixtures (e.g. live reference outputs) its tests need.
function(reel_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS;FIXTURES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${REEL_WARNINGS}>)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  include(GoogleTest)
  # ';' would split a list into separate PROPERTIES arguments: escape it so LABELS a b works.
  string(REPLACE ";" "\\;" labels "${ARG_LABELS}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${labels}" FIXTURES_REQUIRED "${ARG_FIXTURES}"
                       WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()

# Adds each listed subdirectory that has a CMakeLists.txt (modules appear as they are written).
function(reel_add_subdirectories)
  foreach(dir ${ARGN})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
      add_subdirectory(${dir})
    endif()
  endforeach()
endfunction()
