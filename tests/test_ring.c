#include <stdio.h>
int main(void)
{
	puts("test_ring: not written yet");
	return 1;
}
