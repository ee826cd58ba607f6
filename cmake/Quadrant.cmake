# Helpers that declare Quadrant's targets the same way everywhere: explicit file lists
# (no globbing), a namespaced alias, warnings on, and warnings as errors under CI.

function(quadrant_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>)
    if(QUADRANT_WERROR)
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
    endif()
  endif()
endfunction()

# quadrant_library(NAME sim SOURCES a.cc b.cc DEPS Eigen3::Eigen)
# declares quadrant_<NAME> with the alias quadrant::<NAME>; the repository root is the
# include root, so headers are included as "sim/core/units.h".
function(quadrant_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(quadrant_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(quadrant::${ARG_NAME} ALIAS quadrant_${ARG_NAME})
  target_include_directories(quadrant_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(quadrant_${ARG_NAME} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  quadrant_warnings(quadrant_${ARG_NAME})
endfunction()

# quadrant_test(NAME sim_units SOURCES units_test.cc DEPS quadrant::sim [LABELS gpu])
# one GoogleTest executable, its cases registered with CTest one by one.
function(quadrant_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  quadrant_warnings(${ARG_NAME})
  set(props WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${ARG_NAME} PROPERTIES ${props} DISCOVERY_TIMEOUT 60)
endfunction()
