# Third-party dependencies, all from Debian packages (scripts/setup.sh installs them).
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
find_package(CLI11 REQUIRED)  # the command-line options of apps/ (Debian package libcli11-dev)

find_path(STB_INCLUDE_DIR stb/stb_image.h PATHS /usr/include /usr/local/include)
if(NOT STB_INCLUDE_DIR)
  message(FATAL_ERROR "stb headers not found (Debian package libstb-dev); run scripts/setup.sh")
endif()

if(GHM_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()
