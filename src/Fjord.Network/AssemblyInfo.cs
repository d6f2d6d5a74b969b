namespace Fjord.Network;
