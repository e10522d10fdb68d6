#include <stdio.h>
int main(void)
{
	puts("test_topology: not written yet");
	return 1;
}
