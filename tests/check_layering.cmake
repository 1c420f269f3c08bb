# Fails if a module includes a header from a module it must not depend on,
# or another module's internal/ header.
# Run by CTest as `layering_check`. Linking already rejects most violations;
# this catches header-only ones.
set(rules
  "core:store/,projections/,sinks/,api/,tools/,tests/"
  "store:projections/,sinks/,api/,tools/,tests/"
  "projections:sinks/,api/,tools/,tests/"
  "sinks:projections/,api/,tools/,tests/"
  "api:tools/,tests/"
  "tools:api/,tests/")
set(failed FALSE)
foreach(rule IN LISTS rules)
  string(REPLACE ":" ";" parts "${rule}")
  string(REPLACE "," ";" parts "${parts}")
  list(GET parts 0 module)
  list(SUBLIST parts 1 -1 forbidden)
  file(GLOB_RECURSE files "${SOURCE_DIR}/${module}/*.h" "${SOURCE_DIR}/${module}/*.cc")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" includes REGEX "^#include \"")
    foreach(line IN LISTS includes)
      foreach(prefix IN LISTS forbidden)
        if(line MATCHES "^#include \"${prefix}")
          message(SEND_ERROR "${f}: ${module}/ must not include ${prefix}: ${line}")
          set(failed TRUE)
        endif()
      endforeach()
    endforeach()
    # A module's internal/ headers are for that module only (tests may use them).
    foreach(line IN LISTS includes)
      if(line MATCHES "^#include \"([a-z_]+)/internal/" AND NOT CMAKE_MATCH_1 STREQUAL module)
        message(SEND_ERROR "${f}: ${CMAKE_MATCH_1}/internal/ is private to ${CMAKE_MATCH_1}/: ${line}")
        set(failed TRUE)
      endif()
    endforeach()
    if(module STREQUAL "core")
      file(STRINGS "${f}" third_party REGEX "^#include <(rocksdb|boost|spdlog|simdjson)")
      if(third_party)
        message(SEND_ERROR "${f}: core/ must depend on the standard library only: ${third_party}")
        set(failed TRUE)
      endif()
    endif()
  endforeach()
endforeach()
if(failed)
  message(FATAL_ERROR "layering check failed")
endif()
message(STATUS "layering check passed")
