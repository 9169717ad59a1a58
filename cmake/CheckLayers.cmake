# Fails the build when a layer includes what ARCHITECTURE.md forbids it.
# Usage: cmake -DLAYER_DIR=<dir> -DLAYER_NAME=<core|host|checker|sim|net_grpc> -P CheckLayers.cmake
if(LAYER_NAME STREQUAL "core")
  # Deterministic and free of I/O: no gRPC, protobuf, sim, net_grpc, checker, threads,
  # clocks or std random.
  set(FORBIDDEN "[<\"](grpc|grpcpp|google/protobuf|sim/|net_grpc/|checker/|thread>|chrono>|random>|mutex>|future>|iostream>)")
elseif(LAYER_NAME STREQUAL "host")
  # The same code in every world: the world comes in through host/world.h, never from a
  # world's own headers, threads or clocks.
  set(FORBIDDEN "[<\"](grpc|grpcpp|google/protobuf|sim/|net_grpc/|checker/|apps/|harness/|thread>|chrono>|random>|mutex>|future>|iostream>)")
elseif(LAYER_NAME STREQUAL "checker")
  set(FORBIDDEN "[<\"](core/|sim/|net_grpc/|grpc|grpcpp|google/protobuf)")
elseif(LAYER_NAME STREQUAL "sim")
  set(FORBIDDEN "[<\"](net_grpc/|grpc|grpcpp|google/protobuf|thread>|chrono>|random>)")
elseif(LAYER_NAME STREQUAL "net_grpc")
  set(FORBIDDEN "[<\"](sim/|checker/)")
else()
  message(FATAL_ERROR "unknown layer ${LAYER_NAME}")
endif()
file(GLOB_RECURSE sources "${LAYER_DIR}/*.h" "${LAYER_DIR}/*.cc")
set(violations "")
foreach(src IN LISTS sources)
  file(STRINGS "${src}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS lines)
    if(line MATCHES "${FORBIDDEN}")
      string(APPEND violations "\n  ${src}: ${line}")
    endif()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "${LAYER_NAME} includes what its layer may not:${violations}")
endif()
