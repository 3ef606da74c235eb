#include <iostream>

int main() {
    std::cout << "calib-host " << CALIB_VERSION << "\n";
    return 0;
}
